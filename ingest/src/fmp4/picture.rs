//! What kind of picture a frame holds, from its NAL unit headers: whether a decoder can
//! start at it (a keyframe: the start of a group of pictures and a sync sample in the
//! fMP4), whether it is whole, and whether it has B slices.
//!
//! Cameras do not all send IDR pictures as keyframes. H.265 encoders with an open GOP (x265
//! by default, and several camera firmwares) send CRA pictures, and streams may be spliced
//! (BLA); all of them are IRAP pictures, where decoding can start. H.264 encoders with an
//! open GOP or periodic intra refresh mark the pictures to start at with a recovery point
//! SEI instead of sending IDR pictures.
//!
//! A frame that lost its first slice (a stream joined mid-frame, packets lost before it)
//! is no place to start even if it is an IRAP picture, so a keyframe must also begin with
//! the first slice of its picture.

use super::bits::{rbsp_bytes, BitReader};
use super::{Fmp4Error, VideoCodec};

/// What [`classify`] found in one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Picture {
    /// An IDR picture (H.264), an IRAP picture (IDR, CRA or BLA; H.265), or a picture with a
    /// recovery point SEI (either).
    pub random_access: bool,
    /// The frame's first slice is the first of its picture (`first_mb_in_slice` = 0 in
    /// H.264, `first_slice_segment_in_pic_flag` in H.265). False without slices.
    pub starts_picture: bool,
    /// A slice is a B slice (H.264 only; H.265 streams carry their reordering depth in the
    /// SPS, so it is not looked for there).
    pub has_b_slices: bool,
}

impl Picture {
    /// Decoding can start at this frame: a random access point that is whole from its
    /// first slice on.
    pub fn is_keyframe(&self) -> bool {
        self.random_access && self.starts_picture
    }
}

/// The NAL units of a frame with 4-byte length prefixes (see [`super::Frame::data`]).
pub(crate) fn nal_units(data: &[u8]) -> impl Iterator<Item = Result<&[u8], Fmp4Error>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let malformed = Fmp4Error::MalformedFrame { offset: pos };
        let Some(prefix) = data.get(pos..pos + 4) else {
            pos = data.len();
            return Some(Err(malformed));
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        match (pos + 4).checked_add(len).filter(|&end| end <= data.len()) {
            Some(end) => {
                let nal = &data[pos + 4..end];
                pos = end;
                Some(Ok(nal))
            }
            None => {
                pos = data.len();
                Some(Err(malformed))
            }
        }
    })
}

/// Reads the NAL unit headers (and the first bits of slice headers and SEI messages) of a
/// frame. Malformed length prefixes are an error; NAL units too short to say anything are
/// taken as saying nothing.
pub fn classify(codec: VideoCodec, data: &[u8]) -> Result<Picture, Fmp4Error> {
    let mut picture = Picture::default();
    let mut seen_slice = false;
    let mut recovery_point = false;
    for nal in nal_units(data) {
        let nal = nal?;
        let unit = match codec {
            VideoCodec::H264 => h264_unit(nal),
            VideoCodec::H265 => h265_unit(nal),
        };
        match unit {
            Unit::Slice {
                irap,
                first_in_picture,
                b_slice,
            } => {
                if !seen_slice {
                    seen_slice = true;
                    picture.starts_picture = first_in_picture;
                    picture.random_access = irap;
                }
                picture.has_b_slices |= b_slice;
            }
            Unit::Sei { recovery_point: r } => recovery_point |= r,
            Unit::Other => {}
        }
    }
    picture.random_access |= recovery_point && seen_slice;
    Ok(picture)
}

enum Unit {
    Slice {
        /// IDR (H.264) or IRAP (H.265).
        irap: bool,
        first_in_picture: bool,
        b_slice: bool,
    },
    Sei {
        recovery_point: bool,
    },
    Other,
}

/// SEI payload type of a recovery point, in both codecs.
const RECOVERY_POINT: u32 = 6;

fn h264_unit(nal: &[u8]) -> Unit {
    let Some(&header) = nal.first() else {
        return Unit::Other;
    };
    match header & 0x1F {
        nal_type @ 1..=5 => {
            // slice_header(): first_mb_in_slice ue(v), slice_type ue(v), within its first
            // bytes (read without allocating: this runs for every frame).
            let mut head = [0u8; 8];
            let mut len = 0;
            for (slot, b) in head.iter_mut().zip(rbsp_bytes(&nal[1..])) {
                *slot = b;
                len += 1;
            }
            let mut r = BitReader::new(&head[..len]);
            let first_mb = r.ue();
            let slice_type = r.ue();
            Unit::Slice {
                irap: nal_type == 5,
                first_in_picture: first_mb == Ok(0),
                b_slice: matches!(slice_type, Ok(1 | 6)),
            }
        }
        6 => Unit::Sei {
            recovery_point: sei_has(&nal[1..], RECOVERY_POINT),
        },
        _ => Unit::Other,
    }
}

fn h265_unit(nal: &[u8]) -> Unit {
    let (Some(&header), Some(&first_payload)) = (nal.first(), nal.get(2)) else {
        return Unit::Other;
    };
    match (header >> 1) & 0x3F {
        nal_type @ 0..=31 => Unit::Slice {
            // IRAP: BLA_W_LP..CRA_NUT (16..=21) and the reserved IRAP types 22, 23.
            irap: (16..=23).contains(&nal_type),
            first_in_picture: first_payload & 0x80 != 0,
            b_slice: false,
        },
        // PREFIX_SEI_NUT.
        39 => Unit::Sei {
            recovery_point: sei_has(&nal[2..], RECOVERY_POINT),
        },
        _ => Unit::Other,
    }
}

/// Whether an SEI RBSP (after the NAL header) holds a message of `wanted` payload type.
fn sei_has(payload: &[u8], wanted: u32) -> bool {
    let mut rbsp = rbsp_bytes(payload);
    // sei_message(): payload type and size, each a run of 0xFF bytes plus a last byte.
    fn read_value(rbsp: &mut impl Iterator<Item = u8>) -> Option<u32> {
        let mut value = 0u32;
        loop {
            let b = rbsp.next()?;
            value = value.checked_add(u32::from(b))?;
            if b != 0xFF {
                return Some(value);
            }
        }
    }
    loop {
        let (Some(kind), Some(size)) = (read_value(&mut rbsp), read_value(&mut rbsp)) else {
            // Ran out: the trailing bits (0x80) read as a type with no size.
            return false;
        };
        if kind == wanted {
            return true;
        }
        for _ in 0..size {
            if rbsp.next().is_none() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for nal in nals {
            v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            v.extend_from_slice(nal);
        }
        v
    }

    fn h264(nals: &[&[u8]]) -> Picture {
        classify(VideoCodec::H264, &frame(nals)).unwrap()
    }

    fn h265(nals: &[&[u8]]) -> Picture {
        classify(VideoCodec::H265, &frame(nals)).unwrap()
    }

    // H.264 slice headers: first_mb_in_slice 0 ("1"), slice_type 7 (I, "0001000"),
    // 5 (P, "00110") or 6 (B, "00111").
    const IDR_SLICE: &[u8] = &[0x65, 0b1000_1000, 0x84];
    const I_SLICE: &[u8] = &[0x21, 0b1000_1000, 0x84];
    const P_SLICE: &[u8] = &[0x41, 0b1001_1000];
    const B_SLICE: &[u8] = &[0x01, 0b1001_1100];
    /// An IDR slice with first_mb_in_slice = 1 ("010"): the picture's start is missing.
    const IDR_LATER_SLICE: &[u8] = &[0x65, 0b0100_0100, 0x84];

    #[test]
    fn h264_idr_is_a_keyframe() {
        let p = h264(&[&[0x09, 0x10], &[0x06, 5, 1, 0, 0x80], IDR_SLICE]);
        assert!(p.is_keyframe());
        assert!(!p.has_b_slices);
        assert!(!h264(&[P_SLICE]).is_keyframe());
        assert!(
            !h264(&[I_SLICE]).random_access,
            "an I slice alone is no IDR"
        );
    }

    #[test]
    fn h264_recovery_point_sei_starts_a_gop() {
        // SEI: payload type 6 (recovery point), size 1, recovery_frame_cnt 0 etc.
        let sei: &[u8] = &[0x06, 0x06, 0x01, 0x84, 0x80];
        assert!(h264(&[sei, I_SLICE]).is_keyframe());
        // After another message (type 5, user data, 3 bytes).
        let sei: &[u8] = &[0x06, 0x05, 0x03, 1, 2, 3, 0x06, 0x01, 0x84, 0x80];
        assert!(h264(&[sei, I_SLICE]).is_keyframe());
        // Type 261 (0xFF + 6) is not type 6.
        let sei: &[u8] = &[0x06, 0xFF, 0x06, 0x01, 0x84, 0x80];
        assert!(!h264(&[sei, I_SLICE]).random_access);
        // A recovery point without a slice is nothing to start at.
        assert!(!h264(&[&[0x06, 0x06, 0x01, 0x84, 0x80]]).random_access);
    }

    #[test]
    fn a_frame_missing_its_first_slice_is_no_keyframe() {
        let p = h264(&[IDR_LATER_SLICE]);
        assert!(p.random_access && !p.starts_picture && !p.is_keyframe());
        // The first slice decides, not a later one.
        assert!(h264(&[IDR_SLICE, IDR_LATER_SLICE]).is_keyframe());
    }

    #[test]
    fn h264_b_slices_are_seen() {
        assert!(h264(&[B_SLICE]).has_b_slices);
        assert!(h264(&[P_SLICE, B_SLICE]).has_b_slices);
        assert!(!h264(&[P_SLICE]).has_b_slices);
    }

    #[test]
    fn h265_irap_pictures_are_keyframes() {
        // Two-byte headers: type << 1, then layer/TID 0x01; first_slice_segment flag set.
        for (name, nal_type) in [
            ("BLA_W_LP", 16u8),
            ("BLA_N_LP", 18),
            ("IDR_W_RADL", 19),
            ("IDR_N_LP", 20),
            ("CRA", 21),
        ] {
            let slice = [nal_type << 1, 0x01, 0xAF, 0x00];
            assert!(h265(&[&[0x40, 0x01, 0x0C], &slice]).is_keyframe(), "{name}");
            let later = [nal_type << 1, 0x01, 0x2F, 0x00];
            assert!(!h265(&[&later]).is_keyframe(), "{name} without its start");
        }
        for (name, nal_type) in [("TRAIL_R", 1u8), ("RASL_R", 9), ("RADL_R", 7)] {
            let slice = [nal_type << 1, 0x01, 0xAF];
            assert!(!h265(&[&slice]).random_access, "{name}");
        }
    }

    #[test]
    fn h265_recovery_point_sei() {
        let sei: &[u8] = &[39 << 1, 0x01, 0x06, 0x01, 0x84, 0x80];
        let trail: &[u8] = &[0x02, 0x01, 0xAF];
        assert!(h265(&[sei, trail]).is_keyframe());
    }

    #[test]
    fn malformed_prefixes_are_errors_and_short_units_say_nothing() {
        assert!(classify(VideoCodec::H264, &[0, 0, 0, 5, 0x65]).is_err());
        assert!(classify(VideoCodec::H264, &[0, 0]).is_err());
        assert_eq!(h264(&[&[]]), Picture::default());
        assert_eq!(h265(&[&[0x26]]), Picture::default());
        let p = h264(&[&[0x65]]);
        assert!(p.random_access && !p.starts_picture);
    }
}
