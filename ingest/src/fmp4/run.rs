//! Fragments of several frames: one `moof` + `mdat` holding a run of
//! samples, for files rather than browsers.
//!
//! The live path sends one frame per fragment (latency matters there); a
//! recording has no viewer waiting, so it gathers up to a second of frames
//! (or a GOP) per fragment: a hundredth of the `moof` overhead, one `write`
//! per fragment instead of per frame, and exact sample durations, because
//! each frame's duration is known once the next one has arrived.

use super::boxes::{write_box, write_full_box, Put};
use super::fragment::{MDAT_HEADER_LEN, TFHD_DEFAULT_BASE_IS_MOOF, TRUN_FLAGS};
use super::{Fmp4Error, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS, TRACK_ID};

/// `moof` size without the per-sample `trun` entries, and the size of one
/// entry (the same `moof` as the live path's, with more entries).
const MOOF_FIXED_LEN: usize = 88;
const TRUN_ENTRY_LEN: usize = 12;

/// One sample of a run: its duration (90 kHz) and its frame, NAL units with
/// 4-byte length prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSample<'a> {
    pub data: &'a [u8],
    pub duration: u32,
    pub is_keyframe: bool,
}

/// Builds one fragment (`moof` + `mdat`) holding `samples` in order, the
/// first decoded at `decode_time`: `mfhd` with `sequence_number`, `traf` with
/// `tfhd` default-base-is-moof, `tfdt` version 1 and a `trun` with a
/// duration, size and sync flag per sample. Fails for an empty run, an empty
/// frame, or a fragment that would not fit 32-bit box sizes.
pub fn fragment(
    sequence_number: u32,
    decode_time: u64,
    samples: &[RunSample<'_>],
) -> Result<Vec<u8>, Fmp4Error> {
    let mut out = fragment_head(sequence_number, decode_time, samples)?;
    out.reserve(samples.iter().map(|s| s.data.len()).sum());
    for s in samples {
        out.extend_from_slice(s.data);
    }
    Ok(out)
}

/// The same fragment without its frames: the `moof` and the `mdat` box's
/// header, after which the samples' data follow as they are. A writer that
/// has the frames in buffers of their own sends them straight from there
/// (one `writev`) instead of copying them into the fragment first.
pub fn fragment_head(
    sequence_number: u32,
    decode_time: u64,
    samples: &[RunSample<'_>],
) -> Result<Vec<u8>, Fmp4Error> {
    if samples.is_empty() || samples.iter().any(|s| s.data.is_empty()) {
        return Err(Fmp4Error::EmptyFrame);
    }
    let moof_len = MOOF_FIXED_LEN + TRUN_ENTRY_LEN * samples.len();
    let data_len: usize = samples.iter().map(|s| s.data.len()).sum();
    let total = moof_len + MDAT_HEADER_LEN + data_len;
    let Ok(total_u32) = u32::try_from(total) else {
        return Err(Fmp4Error::FrameTooLarge(data_len));
    };
    let mut out = Vec::with_capacity(moof_len + MDAT_HEADER_LEN);
    write_box(&mut out, b"moof", |out| {
        write_full_box(out, b"mfhd", 0, 0, |out| out.put_u32(sequence_number));
        write_box(out, b"traf", |out| {
            write_full_box(out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |out| {
                out.put_u32(TRACK_ID);
            });
            write_full_box(out, b"tfdt", 1, 0, |out| out.put_u64(decode_time));
            write_full_box(out, b"trun", 0, TRUN_FLAGS, |out| {
                out.put_u32(samples.len() as u32);
                // From the start of the moof (default-base-is-moof) to the mdat payload.
                out.put_u32((moof_len + MDAT_HEADER_LEN) as u32);
                for s in samples {
                    out.put_u32(s.duration);
                    out.put_u32(s.data.len() as u32); // fits: the total does
                    out.put_u32(if s.is_keyframe {
                        SYNC_SAMPLE_FLAGS
                    } else {
                        NON_SYNC_SAMPLE_FLAGS
                    });
                }
            });
        });
    });
    debug_assert_eq!(out.len(), moof_len);
    // The mdat's size counts the frames that will follow it.
    out.put_u32(total_u32 - moof_len as u32);
    out.extend_from_slice(b"mdat");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::inspect::parse_media_segment;
    use super::*;

    #[test]
    fn a_run_reads_back() {
        let a = [0, 0, 0, 2, 0x65, 0x88];
        let b = [0, 0, 0, 1, 0x41];
        let samples = [
            RunSample {
                data: &a,
                duration: 3600,
                is_keyframe: true,
            },
            RunSample {
                data: &b,
                duration: 3000,
                is_keyframe: false,
            },
        ];
        let bytes = fragment(7, 90_000, &samples).unwrap();
        let info = parse_media_segment(&bytes).unwrap();
        assert_eq!(info.sequence_number, 7);
        assert_eq!(info.base_decode_time, 90_000);
        assert_eq!(info.samples.len(), 2);
        assert_eq!(info.samples[0].duration, Some(3600));
        assert_eq!(info.samples[0].flags, Some(SYNC_SAMPLE_FLAGS));
        assert_eq!(info.samples[1].flags, Some(NON_SYNC_SAMPLE_FLAGS));
        assert_eq!(&bytes[info.sample_ranges[0].clone()], &a);
        assert_eq!(&bytes[info.sample_ranges[1].clone()], &b);
    }

    #[test]
    fn empty_runs_and_frames_are_refused() {
        assert_eq!(fragment(1, 0, &[]), Err(Fmp4Error::EmptyFrame));
        let empty = RunSample {
            data: &[],
            duration: 1,
            is_keyframe: true,
        };
        assert_eq!(fragment(1, 0, &[empty]), Err(Fmp4Error::EmptyFrame));
    }
}
