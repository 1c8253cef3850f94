//! Media segments: one `moof` + `mdat` per frame, preceded by a `prft` when the frame's
//! arrival time is known.
//!
//! # Sample durations
//!
//! A frame is packaged as soon as it arrives, for low latency, so its real
//! duration (the time until the next frame) is not known yet. The writer
//! uses the stream's current frame duration estimate instead,
//! [`Timeline::nominal_frame_duration`]: the interval between the previous
//! two frames (gaps over [`TimelineConfig::max_frame_duration`] excepted), or
//! [`TimelineConfig::default_frame_duration`] for the first frame. Each
//! segment's `tfdt` carries the frame's true decode time from the
//! [`Timeline`], so estimation errors never accumulate: when the frame rate
//! changes, a sample merely overlaps the next one or leaves a small gap
//! before it, which Media Source Extensions handle (a gap of more than twice
//! the previous duration counts as a discontinuity there, so durations err on
//! the side of the last interval rather than the shortest). Decode times are
//! strictly increasing; see [`super::timeline`] for clock jumps.
//!
//! Frames carry no composition offsets: decode time = presentation time,
//! as for cameras' streams without B-frames.
//!
//! # Producer reference time
//!
//! A `prft` box (ISO/IEC 14496-12 8.16.5) before the `moof` pairs the sample's media time
//! with the wall-clock instant (NTP format) its frame arrived from the camera, so that a
//! player knows how old the picture it shows is: the glass-to-glass latency, less the
//! camera's own encoding and sending. Its flags are 2 ("the fragment was finalized"): the
//! arrival is the moment the frame is packaged. Browsers' MSE skip the box.

use std::time::{SystemTime, UNIX_EPOCH};

use super::boxes::{write_box, write_full_box, Put};
use super::init::init_segment;
use super::timeline::{Timeline, TimelineConfig};
use super::{Fmp4Error, VideoParams, TRACK_ID};

/// `sample_flags` of a sync sample (keyframe): sample_depends_on = 2 (no other).
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of another sample: sample_depends_on = 1,
/// sample_is_non_sync_sample = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// `tfhd` flag: data offsets are relative to the start of the `moof`.
pub(super) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data-offset, sample-duration, sample-size, sample-flags present.
pub(super) const TRUN_FLAGS: u32 = 0x000001 | 0x000100 | 0x000200 | 0x000400;

/// Size of the `moof` [`media_segment`] writes, and of an `mdat` header.
const MOOF_LEN: usize = 100;
pub(super) const MDAT_HEADER_LEN: usize = 8;
/// Size of the `prft` box (version 1).
const PRFT_LEN: usize = 32;
/// `prft` flags: the time is when the fragment was finalized.
pub const PRFT_FLAGS: u32 = 2;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A wall-clock instant as a 64-bit NTP timestamp (32.32 fixed point seconds since 1900);
/// instants before 1970 are taken as 1970.
pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().saturating_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// One access unit as retina gives it with `FrameFormat::MP4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// NAL units, each preceded by its length as a 4-byte big-endian integer.
    pub data: &'a [u8],
    /// Timestamp in 90 kHz units, extended to 64 bits (may jump; see
    /// [`super::timeline`]).
    pub timestamp: i64,
    /// Whether decoding can start at the frame (see [`super::picture`]).
    pub is_keyframe: bool,
    /// When the frame arrived from the camera, for the segment's `prft`; `None` writes none.
    pub arrival: Option<SystemTime>,
}

/// Timing of the single sample of a media segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// `tfdt` baseMediaDecodeTime, 90 kHz.
    pub decode_time: u64,
    /// Sample duration, 90 kHz.
    pub duration: u32,
    pub is_keyframe: bool,
}

/// One media segment (`prft` + `moof` + `mdat`, or `moof` + `mdat` without an arrival) holding
/// one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    /// The segment's bytes, ready for `SourceBuffer.appendBuffer`.
    pub data: Vec<u8>,
    /// `mfhd` sequence number.
    pub sequence_number: u32,
    /// Sample decode time and duration, and whether it is a keyframe: a
    /// viewer joining the stream (after the init segment) must start at a
    /// keyframe.
    pub sample: SampleInfo,
    /// The frame's timestamp was a camera clock jump and the timeline was
    /// rebased (worth a log line).
    pub rebased: bool,
}

/// Checks that `data` is non-empty NAL units with 4-byte length prefixes
/// that add up to its length, and fits a 32-bit sample size.
fn validate_frame(data: &[u8]) -> Result<(), Fmp4Error> {
    if data.is_empty() {
        return Err(Fmp4Error::EmptyFrame);
    }
    if data.len() > u32::MAX as usize - MOOF_LEN - MDAT_HEADER_LEN {
        return Err(Fmp4Error::FrameTooLarge(data.len()));
    }
    let mut pos = 0usize;
    while pos < data.len() {
        let malformed = Fmp4Error::MalformedFrame { offset: pos };
        let Some(prefix) = data.get(pos..pos + 4) else {
            return Err(malformed);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        match (pos + 4).checked_add(len) {
            Some(end) if end <= data.len() => pos = end,
            _ => return Err(malformed),
        }
    }
    Ok(())
}

/// Builds a media segment holding the single sample `data` (see [`Frame::data`]):
/// a `prft` (version 1, [`PRFT_FLAGS`]) pairing the sample's time with `arrival` when it is
/// given, `moof` (`mfhd` with `sequence_number`; `traf` with `tfhd`
/// default-base-is-moof, `tfdt` version 1, `trun` with data offset, duration,
/// size and sync/non-sync flags) and `mdat`.
pub fn media_segment(
    sequence_number: u32,
    sample: &SampleInfo,
    arrival: Option<SystemTime>,
    data: &[u8],
) -> Result<Vec<u8>, Fmp4Error> {
    validate_frame(data)?;
    let mut out = Vec::with_capacity(PRFT_LEN + MOOF_LEN + MDAT_HEADER_LEN + data.len());
    if let Some(arrival) = arrival {
        write_full_box(&mut out, b"prft", 1, PRFT_FLAGS, |out| {
            out.put_u32(TRACK_ID);
            out.put_u64(ntp_timestamp(arrival));
            out.put_u64(sample.decode_time); // media_time: presentation = decode time
        });
        debug_assert_eq!(out.len(), PRFT_LEN);
    }
    let moof_start = out.len();
    let mut data_offset_at = 0;
    write_box(&mut out, b"moof", |out| {
        write_full_box(out, b"mfhd", 0, 0, |out| out.put_u32(sequence_number));
        write_box(out, b"traf", |out| {
            write_full_box(out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |out| {
                out.put_u32(TRACK_ID);
            });
            write_full_box(out, b"tfdt", 1, 0, |out| out.put_u64(sample.decode_time));
            write_full_box(out, b"trun", 0, TRUN_FLAGS, |out| {
                out.put_u32(1); // sample_count
                data_offset_at = out.len();
                out.put_u32(0); // data_offset, filled in below
                out.put_u32(sample.duration);
                out.put_u32(data.len() as u32); // fits: checked by validate_frame
                out.put_u32(if sample.is_keyframe {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                });
            });
        });
    });
    debug_assert_eq!(out.len() - moof_start, MOOF_LEN);
    // From the start of the moof (default-base-is-moof) to the mdat payload.
    let data_offset = (MOOF_LEN + MDAT_HEADER_LEN) as u32;
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    write_box(&mut out, b"mdat", |out| out.extend_from_slice(data));
    Ok(out)
}

/// Packages one camera stream's frames into media segments, independent of
/// viewers: every viewer gets the init segment, then segments from a keyframe on.
#[derive(Debug, Clone)]
pub struct FragmentWriter {
    params: VideoParams,
    timeline: Timeline,
    next_sequence_number: u32,
}

impl FragmentWriter {
    pub fn new(params: VideoParams, config: TimelineConfig) -> Self {
        Self {
            params,
            timeline: Timeline::new(config),
            next_sequence_number: 1,
        }
    }

    /// The current parameters.
    pub fn params(&self) -> &VideoParams {
        &self.params
    }

    /// The init segment for the current parameters.
    pub fn init_segment(&self) -> Vec<u8> {
        init_segment(&self.params)
    }

    /// Takes the stream's parameters (e.g. after retina reported a
    /// parameter-set change). Returns `true` if they differ from the current
    /// ones (codec, dimensions or record bytes): the caller must then send a
    /// new [`FragmentWriter::init_segment`] to viewers before the next media
    /// segment (which should be a keyframe). Decode times continue across
    /// the change.
    pub fn set_params(&mut self, params: VideoParams) -> bool {
        if params == self.params {
            return false;
        }
        self.params = params;
        true
    }

    /// The timeline decode times come from.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The `mfhd` sequence number the next segment gets (starts at 1, skips 0
    /// when wrapping).
    pub fn next_sequence_number(&self) -> u32 {
        self.next_sequence_number
    }

    /// Packages one frame as a media segment right away. A malformed frame
    /// gives an error and leaves the writer as it was.
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<MediaSegment, Fmp4Error> {
        validate_frame(frame.data)?;
        let point = self.timeline.map(frame.timestamp);
        let sample = SampleInfo {
            decode_time: point.decode_time,
            duration: self.timeline.nominal_frame_duration(),
            is_keyframe: frame.is_keyframe,
        };
        let sequence_number = self.next_sequence_number;
        let data = media_segment(sequence_number, &sample, frame.arrival, frame.data)?;
        self.next_sequence_number = sequence_number.checked_add(1).unwrap_or(1);
        Ok(MediaSegment {
            data,
            sequence_number,
            sample,
            rebased: point.rebased,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::tests::{avcc, BASELINE_PPS, BASELINE_SPS};
    use super::*;

    #[test]
    fn sequence_number_wraps_to_one() {
        let params = VideoParams::h264(64, 64, avcc(BASELINE_SPS, BASELINE_PPS)).unwrap();
        let mut w = FragmentWriter::new(params, TimelineConfig::default());
        w.next_sequence_number = u32::MAX;
        let frame = Frame {
            data: &[0, 0, 0, 1, 0x65],
            timestamp: 0,
            is_keyframe: true,
            arrival: None,
        };
        assert_eq!(w.write(&frame).unwrap().sequence_number, u32::MAX);
        assert_eq!(w.next_sequence_number(), 1);
    }

    #[test]
    fn ntp_timestamps() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH), NTP_UNIX_OFFSET << 32);
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        assert_eq!(ntp_timestamp(t), ((NTP_UNIX_OFFSET + 1) << 32) | (1 << 31));
        let before = UNIX_EPOCH - std::time::Duration::from_secs(5);
        assert_eq!(ntp_timestamp(before), NTP_UNIX_OFFSET << 32);
    }
}
