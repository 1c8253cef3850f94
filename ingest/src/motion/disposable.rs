//! Frames no other frame refers to, which the motion decoder may skip.
//!
//! A camera's stream is mostly P-frames that each refer to the one before: to see frame *k*
//! of a GOP, frames 0..k must all be decoded, so dropping them to reach the detector's few
//! frames per second is not possible. Some cameras ("smart codec", temporal layers) mark
//! frames as non-reference (H.264 `nal_ref_idc` 0; H.265 the `_N` picture types); those can
//! be left out without harming any other, and the motion worker leaves them out whenever the
//! detector would not get them anyway.

use crate::snapshot::Codec;

/// Whether the sample (length-prefixed NAL units, 4-byte lengths as the ingest packages them)
/// is a picture no other refers to. Unparsable samples count as needed.
pub(crate) fn is_disposable(codec: Codec, sample: &[u8]) -> bool {
    let mut rest = sample;
    while rest.len() > 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + len) else {
            return false;
        };
        rest = &rest[4 + len..];
        let Some(&header) = nal.first() else {
            continue;
        };
        match codec {
            Codec::H264 => {
                let kind = header & 0x1f;
                // Coded slices (1..=5): the first one says for the picture.
                if (1..=5).contains(&kind) {
                    return header & 0x60 == 0;
                }
            }
            Codec::H265 => {
                let kind = (header >> 1) & 0x3f;
                if kind < 32 {
                    // TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N and the reserved RSV_VCL_N*.
                    return kind <= 14 && kind % 2 == 0;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
        }
        out
    }

    #[test]
    fn h264_reference_and_non_reference_slices() {
        // SEI (6) first, then a non-IDR slice with nal_ref_idc 0 (0x01) or 2 (0x41).
        assert!(is_disposable(
            Codec::H264,
            &sample(&[&[0x06, 1], &[0x01, 0x88]])
        ));
        assert!(!is_disposable(
            Codec::H264,
            &sample(&[&[0x06, 1], &[0x41, 0x88]])
        ));
        // An IDR slice (0x65) is always a reference.
        assert!(!is_disposable(Codec::H264, &sample(&[&[0x65, 0x88]])));
        // Truncated: needed.
        assert!(!is_disposable(Codec::H264, &[0, 0, 0, 9, 0x01]));
    }

    #[test]
    fn h265_sub_layer_non_reference_pictures() {
        // TRAIL_N (0) and TRAIL_R (1); IDR_W_RADL (19); header byte 0 is type << 1.
        assert!(is_disposable(Codec::H265, &sample(&[&[0, 1, 0xaa]])));
        assert!(!is_disposable(Codec::H265, &sample(&[&[1 << 1, 1, 0xaa]])));
        assert!(!is_disposable(Codec::H265, &sample(&[&[19 << 1, 1, 0xaa]])));
        // A parameter set (VPS, 32) before the slice is skipped over.
        assert!(is_disposable(
            Codec::H265,
            &sample(&[&[32 << 1, 1], &[0, 1]])
        ));
    }
}
