//! Fragmented MP4 (ISO BMFF) for browsers' Media Source Extensions.
//!
//! Cameras' H.264/H.265 access units, as the `retina` crate hands them over
//! (`FrameFormat::MP4`: NAL units with 4-byte big-endian length prefixes), are
//! repackaged without transcoding:
//!
//! * [`init_segment`] builds the initialization segment (`ftyp` + `moov`) from
//!   [`VideoParams`] (dimensions plus the `avcC`/`hvcC` decoder configuration
//!   record, i.e. retina's `VideoParameters::extra_data()`).
//! * [`FragmentWriter`] turns every frame into one media segment
//!   (`prft` + `moof` + `mdat`) right away, for low latency, mapping the camera's
//!   timestamps onto a monotonic decode timeline ([`Timeline`]).
//! * [`picture::classify`] tells keyframes (IDR, CRA, BLA, recovery points) from
//!   other frames, and whole frames from damaged ones;
//!   [`VideoParams::without_reordering`] rewrites an H.264 SPS so that browsers
//!   hold no frame back (`sps.rs`).
//!
//! [`inspect`] reads segments back strictly (for tests, the fuzz target in
//! `ingest/fuzz/` and debugging).
//!
//! Everything here is pure: no I/O, only byte vectors in and out, and no
//! panics on any input: bad parameters or frames give an [`Fmp4Error`].
//!
//! All media times are in [`TIMESCALE`] units (90 kHz, the RTP video clock).
//!
//! ```
//! use gridwatch_ingest::fmp4::{Frame, FragmentWriter, TimelineConfig, VideoParams};
//! # fn avcc() -> Vec<u8> {
//! #     vec![1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE]
//! # }
//! let params = VideoParams::h264(640, 480, avcc())?;
//! assert_eq!(params.rfc6381_codec(), "avc1.42C01E");
//! let mut writer = FragmentWriter::new(params, TimelineConfig::default());
//! let init: Vec<u8> = writer.init_segment();
//! let frame = [0, 0, 0, 2, 0x65, 0x88];
//! let segment = writer.write(&Frame {
//!     data: &frame,
//!     timestamp: 123_456,
//!     is_keyframe: true,
//!     arrival: Some(std::time::SystemTime::now()),
//! })?;
//! assert_eq!(segment.sample.decode_time, 0);
//! # let _ = init;
//! # Ok::<(), gridwatch_ingest::fmp4::Fmp4Error>(())
//! ```

mod annexb;
mod bits;
pub(crate) mod boxes;
mod fragment;
mod init;
pub mod inspect;
mod params;
pub mod picture;
pub mod run;
mod sps;
pub mod timeline;

pub use annexb::AnnexB;
pub use bits::{escape as nal_payload, unescape as rbsp};
pub use fragment::{
    media_segment, ntp_timestamp, FragmentWriter, Frame, MediaSegment, SampleInfo,
    NON_SYNC_SAMPLE_FLAGS, PRFT_FLAGS, SYNC_SAMPLE_FLAGS,
};
pub use init::init_segment;
pub use params::{
    avc_codec_string, avc_parameter_sets, hevc_codec_string, VideoCodec, VideoParams,
};
pub use picture::{classify, Picture};
pub use timeline::{unwrap_rtp32, RtpTimestampUnwrapper, Timeline, TimelineConfig, TimelinePoint};

/// Media timescale of the single video track: 90 kHz, as RTP video clocks.
pub const TIMESCALE: u32 = 90_000;

/// Largest accepted `avcC`/`hvcC` record (real ones are well under 1 KiB).
pub const MAX_CONFIG_LEN: usize = 1 << 20;

/// Track ID of the single video track.
pub const TRACK_ID: u32 = 1;

/// Why parameters or a frame could not be packaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// A decoder configuration record (`avcC`/`hvcC`) ends early.
    #[error("{record} too short: needs at least {needed} bytes, has {len}")]
    ConfigTooShort {
        record: &'static str,
        needed: usize,
        len: usize,
    },
    /// `configurationVersion` of the record is not 1.
    #[error("{record}: unsupported configurationVersion {version}")]
    UnsupportedConfigVersion { record: &'static str, version: u8 },
    /// The record announces NAL length prefixes other than the 4 bytes frames carry.
    #[error("{record}: NAL unit length size {size} is not supported (frames use 4)")]
    UnsupportedNalLengthSize { record: &'static str, size: u8 },
    /// A parameter set in the record runs past its end, or bytes are left over.
    #[error("{record}: malformed parameter set list at byte {offset}")]
    MalformedConfig { record: &'static str, offset: usize },
    /// The record holds no sequence parameter set.
    #[error("{record}: no SPS")]
    NoSps { record: &'static str },
    /// The record holds no picture parameter set.
    #[error("{record}: no PPS")]
    NoPps { record: &'static str },
    /// The (first) SPS is too short or not an SPS NAL unit.
    #[error("invalid SPS: {0}")]
    InvalidSps(&'static str),
    /// Width or height is zero or does not fit the 16-bit sample entry fields.
    #[error("invalid dimensions {width}x{height}")]
    InvalidDimensions { width: u32, height: u32 },
    /// A decoder configuration record larger than [`MAX_CONFIG_LEN`].
    #[error("{record} of {len} bytes is too long")]
    ConfigTooLong { record: &'static str, len: usize },
    /// A frame without any bytes.
    #[error("empty frame")]
    EmptyFrame,
    /// A frame's 4-byte NAL length prefixes do not add up to its length.
    #[error("malformed frame: NAL unit length prefix at byte {offset} runs past the end")]
    MalformedFrame { offset: usize },
    /// A frame too large for 32-bit box sizes.
    #[error("frame of {0} bytes is too large for one fragment")]
    FrameTooLarge(usize),
    /// Reading boxes back ([`inspect`]): the bytes are not well-formed.
    #[error("malformed box structure at byte {offset}: {reason}")]
    MalformedBox { offset: usize, reason: &'static str },
}

#[cfg(test)]
mod tests;
