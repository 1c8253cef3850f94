//! H.264 access units as an Annex B byte stream (NAL units after `00 00 00 01` start codes),
//! for senders whose RTP packetizer splits on start codes (WebRTC's, in the hub).
//!
//! The live fan-out hands out fMP4 fragments: one frame each, its NAL units with 4-byte
//! length prefixes, and the parameter sets only in the init segment's `avcC`. A WebRTC
//! receiver has no init segment: it joins at a keyframe and must find the SPS and PPS in
//! front of it, so [`AnnexB::access_unit`] puts them there.

use super::picture::nal_units;
use super::{avc_parameter_sets, Fmp4Error};

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Turns one camera's H.264 frames into Annex B access units.
#[derive(Debug, Clone, Default)]
pub struct AnnexB {
    /// The SPS and PPS, each after a start code, sent before every keyframe.
    parameter_sets: Vec<u8>,
}

impl AnnexB {
    /// For the stream whose `avcC` record is `avcc`.
    pub fn new(avcc: &[u8]) -> Result<Self, Fmp4Error> {
        let mut parameter_sets = Vec::new();
        for nal in avc_parameter_sets(avcc)? {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(nal);
        }
        Ok(AnnexB { parameter_sets })
    }

    /// `frame` (NAL units with 4-byte length prefixes) as an Annex B access unit, the
    /// parameter sets first when it is a keyframe. Parameter sets the frame carries itself
    /// are kept: a camera that repeats them in band knows best.
    pub fn access_unit(&self, frame: &[u8], keyframe: bool) -> Result<Vec<u8>, Fmp4Error> {
        let extra = if keyframe {
            self.parameter_sets.len()
        } else {
            0
        };
        let mut out = Vec::with_capacity(frame.len() + extra);
        if keyframe {
            out.extend_from_slice(&self.parameter_sets);
        }
        for nal in nal_units(frame) {
            let nal = nal?;
            if nal.is_empty() {
                continue;
            }
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        if out.len() == extra {
            return Err(Fmp4Error::EmptyFrame);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Baseline SPS (640x480), a PPS, in an `avcC` record.
    fn avcc() -> Vec<u8> {
        vec![
            1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
        ]
    }

    #[test]
    fn a_keyframe_carries_the_parameter_sets_before_its_slices() {
        let annexb = AnnexB::new(&avcc()).unwrap();
        let frame = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 3, 0x65, 0x11, 0x22];
        let au = annexb.access_unit(&frame, true).unwrap();
        assert_eq!(
            au,
            [
                0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, //
                0, 0, 0, 1, 0x68, 0xCE, //
                0, 0, 0, 1, 0x65, 0x88, //
                0, 0, 0, 1, 0x65, 0x11, 0x22,
            ]
        );
    }

    #[test]
    fn other_frames_are_their_nal_units_only() {
        let annexb = AnnexB::new(&avcc()).unwrap();
        let au = annexb
            .access_unit(&[0, 0, 0, 2, 0x41, 0x9A], false)
            .unwrap();
        assert_eq!(au, [0, 0, 0, 1, 0x41, 0x9A]);
    }

    #[test]
    fn a_frame_whose_prefixes_run_past_its_end_is_an_error() {
        let annexb = AnnexB::new(&avcc()).unwrap();
        assert_eq!(
            annexb.access_unit(&[0, 0, 0, 9, 0x41], false),
            Err(Fmp4Error::MalformedFrame { offset: 0 })
        );
        assert_eq!(annexb.access_unit(&[], false), Err(Fmp4Error::EmptyFrame));
    }

    #[test]
    fn a_record_without_a_pps_is_refused() {
        let mut record = avcc();
        record.truncate(12);
        record.push(0);
        assert_eq!(
            AnnexB::new(&record).unwrap_err(),
            Fmp4Error::NoPps { record: "avcC" }
        );
    }
}
