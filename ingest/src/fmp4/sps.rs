//! Telling a browser's H.264 decoder that no frame needs holding back.
//!
//! A decoder outputs a picture once no later-decoded picture can come before it in display
//! order. Unless the SPS says how many pictures may be reordered (the VUI's
//! `bitstream_restriction`: `max_num_reorder_frames`, `max_dec_frame_buffering`), it must
//! assume the worst the level allows and holds up to 16 frames back: Chromium then shows
//! each frame of a camera without B-frames several frames late, for no reason. Many cameras
//! leave that field out. [`without_reordering`] rewrites an SPS to say "no reordering"
//! (`max_num_reorder_frames` = 0, `max_dec_frame_buffering` = `max_num_ref_frames`), for
//! streams known to have no B-frames; everything before the field is copied bit for bit.
//!
//! H.265 needs no such rewrite: its SPS always carries `sps_max_num_reorder_pics`.

use super::bits::{escape, unescape, BitReader, BitWriter, OutOfBits};

/// Why an SPS could not be rewritten (it is then used as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpsError {
    NotAnSps,
    /// Ends early, or holds a value out of its range.
    Malformed,
}

impl From<OutOfBits> for SpsError {
    fn from(_: OutOfBits) -> Self {
        SpsError::Malformed
    }
}

/// What the rewrite needs to know of an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsLayout {
    pub max_num_ref_frames: u32,
    /// Bit position (in the RBSP after the NAL header) of `vui_parameters_present_flag`.
    vui_flag_at: usize,
    /// Bit position of `bitstream_restriction_flag`, when there is a VUI.
    restriction_flag_at: Option<usize>,
    /// The current restriction, when present.
    pub restriction: Option<Restriction>,
}

/// The VUI's `bitstream_restriction` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Restriction {
    motion_vectors_over_pic_boundaries: bool,
    max_bytes_per_pic_denom: u32,
    max_bits_per_mb_denom: u32,
    log2_max_mv_length_horizontal: u32,
    log2_max_mv_length_vertical: u32,
    pub max_num_reorder_frames: u32,
    pub max_dec_frame_buffering: u32,
}

impl Restriction {
    /// The values a decoder infers when the VUI has none (H.264 E.2.1), reordering aside.
    const INFERRED: Restriction = Restriction {
        motion_vectors_over_pic_boundaries: true,
        max_bytes_per_pic_denom: 2,
        max_bits_per_mb_denom: 1,
        log2_max_mv_length_horizontal: 15,
        log2_max_mv_length_vertical: 15,
        max_num_reorder_frames: 0,
        max_dec_frame_buffering: 0,
    };
}

/// Profiles whose SPS carries chroma format, bit depths and scaling matrices.
const HIGH_PROFILES: [u32; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// Reads an SPS NAL unit (header included) as far as the rewrite needs.
pub(crate) fn layout(sps: &[u8]) -> Result<SpsLayout, SpsError> {
    match sps.first() {
        Some(h) if h & 0x1F == 7 => {}
        _ => return Err(SpsError::NotAnSps),
    }
    let rbsp = unescape(&sps[1..]);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, reserved bits, level_idc
    r.ue()?; // seq_parameter_set_id
    if HIGH_PROFILES.contains(&profile_idc) {
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.skip(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(SpsError::Malformed);
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(SpsError::Malformed),
    }
    let max_num_ref_frames = r.ue()?;
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    r.ue()?; // pic_width_in_mbs_minus1
    r.ue()?; // pic_height_in_map_units_minus1
    if !r.bit()? {
        // frame_mbs_only_flag unset
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    if r.bit()? {
        // frame_cropping_flag
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let vui_flag_at = r.position();
    let mut layout = SpsLayout {
        max_num_ref_frames,
        vui_flag_at,
        restriction_flag_at: None,
        restriction: None,
    };
    if r.bit()? {
        let (at, restriction) = read_vui(&mut r)?;
        layout.restriction_flag_at = Some(at);
        layout.restriction = restriction;
    }
    Ok(layout)
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), SpsError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(SpsError::Malformed);
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Reads `vui_parameters()` (H.264 E.1.1) up to and including the bitstream restriction:
/// where its flag is, and its values.
fn read_vui(r: &mut BitReader<'_>) -> Result<(usize, Option<Restriction>), SpsError> {
    if r.bit()? {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?; // sar_width, sar_height
        }
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.bit()? {
        // video_signal_type_present_flag
        r.skip(4)?; // video_format, video_full_range_flag
        if r.bit()? {
            r.skip(24)?; // colour description
        }
    }
    if r.bit()? {
        // chroma_loc_info_present_flag
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? {
        r.skip(65)?; // num_units_in_tick, time_scale, fixed_frame_rate_flag
    }
    let nal_hrd = r.bit()?;
    if nal_hrd {
        skip_hrd(r)?;
    }
    let vcl_hrd = r.bit()?;
    if vcl_hrd {
        skip_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1)?; // low_delay_hrd_flag
    }
    r.skip(1)?; // pic_struct_present_flag
    let at = r.position();
    if !r.bit()? {
        return Ok((at, None));
    }
    let restriction = Restriction {
        motion_vectors_over_pic_boundaries: r.bit()?,
        max_bytes_per_pic_denom: r.ue()?,
        max_bits_per_mb_denom: r.ue()?,
        log2_max_mv_length_horizontal: r.ue()?,
        log2_max_mv_length_vertical: r.ue()?,
        max_num_reorder_frames: r.ue()?,
        max_dec_frame_buffering: r.ue()?,
    };
    Ok((at, Some(restriction)))
}

fn skip_hrd(r: &mut BitReader<'_>) -> Result<(), SpsError> {
    let cpb_cnt = r.ue()?.checked_add(1).ok_or(SpsError::Malformed)?;
    if cpb_cnt > 32 {
        return Err(SpsError::Malformed);
    }
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.ue()?; // bit_rate_value_minus1
        r.ue()?; // cpb_size_value_minus1
        r.skip(1)?; // cbr_flag
    }
    r.skip(20)?; // four 5-bit lengths
    Ok(())
}

/// The SPS NAL unit rewritten to announce no reordering, or `None` when it already does.
pub(crate) fn without_reordering(sps: &[u8]) -> Result<Option<Vec<u8>>, SpsError> {
    let layout = layout(sps)?;
    if matches!(layout.restriction, Some(r) if r.max_num_reorder_frames == 0) {
        return Ok(None);
    }
    let rbsp = unescape(&sps[1..]);
    let mut w = BitWriter::default();
    let kept = match layout.restriction_flag_at {
        Some(at) => {
            w.copy(&rbsp, 0, at);
            layout.restriction.unwrap_or(Restriction::INFERRED)
        }
        None => {
            w.copy(&rbsp, 0, layout.vui_flag_at);
            w.bit(true); // vui_parameters_present_flag
                         // aspect ratio, overscan, video signal, chroma location, timing, NAL HRD, VCL
                         // HRD, pic_struct: none.
            w.bits(8, 0);
            Restriction::INFERRED
        }
    };
    w.bit(true); // bitstream_restriction_flag
    w.bit(kept.motion_vectors_over_pic_boundaries);
    w.ue(kept.max_bytes_per_pic_denom);
    w.ue(kept.max_bits_per_mb_denom);
    w.ue(kept.log2_max_mv_length_horizontal);
    w.ue(kept.log2_max_mv_length_vertical);
    w.ue(0); // max_num_reorder_frames
             // At least max_num_ref_frames (E.2.1), and no more than it needs.
    w.ue(layout.max_num_ref_frames.max(1));
    let mut out = vec![sps[0]];
    out.extend_from_slice(&escape(&w.finish_rbsp()));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an SPS RBSP (Main profile, 1280x720) by hand, optionally with a VUI.
    fn sps(vui: Option<&dyn Fn(&mut BitWriter)>, ref_frames: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(8, 77); // profile_idc Main
        w.bits(8, 0x40); // constraint_set1
        w.bits(8, 31); // level 3.1
        w.ue(0); // sps id
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(0); // pic_order_cnt_type
        w.ue(2); // log2_max_pic_order_cnt_lsb_minus4
        w.ue(ref_frames);
        w.bit(false); // gaps
        w.ue(79); // width in MBs - 1
        w.ue(44); // height in map units - 1
        w.bit(true); // frame_mbs_only
        w.bit(true); // direct_8x8
        w.bit(false); // cropping
        match vui {
            None => w.bit(false),
            Some(f) => {
                w.bit(true);
                f(&mut w);
            }
        }
        let mut nal = vec![0x67];
        nal.extend_from_slice(&escape(&w.finish_rbsp()));
        nal
    }

    /// A VUI with aspect ratio, timing and a NAL HRD, and the given restriction.
    fn rich_vui(restriction: Option<(u32, u32)>) -> impl Fn(&mut BitWriter) {
        move |w: &mut BitWriter| {
            w.bit(true);
            w.bits(8, 255); // extended SAR
            w.bits(16, 4);
            w.bits(16, 3);
            w.bit(false); // overscan
            w.bit(true); // video signal
            w.bits(4, 0b1011);
            w.bit(true);
            w.bits(24, 0x010101);
            w.bit(false); // chroma loc
            w.bit(true); // timing
            w.bits(32, 1);
            w.bits(32, 50);
            w.bit(true);
            w.bit(true); // NAL HRD
            w.ue(1); // two CPBs
            w.bits(8, 0x44);
            for _ in 0..2 {
                w.ue(1000);
                w.ue(2000);
                w.bit(false);
            }
            w.bits(20, 0xABCDE);
            w.bit(false); // VCL HRD
            w.bit(true); // low_delay_hrd_flag
            w.bit(false); // pic_struct
            match restriction {
                None => w.bit(false),
                Some((reorder, buffering)) => {
                    w.bit(true);
                    w.bit(true);
                    w.ue(0);
                    w.ue(0);
                    w.ue(16);
                    w.ue(16);
                    w.ue(reorder);
                    w.ue(buffering);
                }
            }
        }
    }

    /// The SPS as h264-reader (an independent parser) reads it.
    fn independent(sps: &[u8]) -> h264_reader::nal::sps::SeqParameterSet {
        let rbsp = h264_reader::rbsp::decode_nal(sps).unwrap();
        h264_reader::nal::sps::SeqParameterSet::from_bits(h264_reader::rbsp::BitReader::new(
            &rbsp[..],
        ))
        .unwrap()
    }

    /// Rewrites `original` and checks with h264-reader that only the bitstream restriction
    /// changed (and the VUI appeared, if there was none), announcing no reordering.
    fn check_rewrite(original: &[u8]) -> Vec<u8> {
        let rewritten = without_reordering(original).unwrap().unwrap();
        let (before, mut after) = (independent(original), independent(&rewritten));
        let vui = after.vui_parameters.as_mut().expect("a VUI");
        let restriction = vui.bitstream_restrictions.take().expect("a restriction");
        assert_eq!(restriction.max_num_reorder_frames, 0);
        assert_eq!(
            restriction.max_dec_frame_buffering,
            before.max_num_ref_frames.max(1)
        );
        let mut expected_vui = before.vui_parameters.clone().unwrap_or_default();
        expected_vui.bitstream_restrictions = None;
        assert_eq!(after.vui_parameters.as_ref(), Some(&expected_vui));
        after.vui_parameters = before.vui_parameters.clone();
        assert_eq!(after, before, "nothing else changed");
        rewritten
    }

    fn reorder_of(sps: &[u8]) -> Option<(u32, u32)> {
        layout(sps)
            .unwrap()
            .restriction
            .map(|r| (r.max_num_reorder_frames, r.max_dec_frame_buffering))
    }

    #[test]
    fn an_sps_without_vui_gains_one() {
        let original = sps(None, 1);
        assert_eq!(reorder_of(&original), None);
        let rewritten = check_rewrite(&original);
        assert_eq!(reorder_of(&rewritten), Some((0, 1)));
        let before = layout(&original).unwrap();
        let after = layout(&rewritten).unwrap();
        assert_eq!(after.vui_flag_at, before.vui_flag_at);
        assert_eq!(after.max_num_ref_frames, 1);
        // Everything before the VUI is unchanged.
        let (a, b) = (unescape(&original[1..]), unescape(&rewritten[1..]));
        let mut w1 = BitWriter::default();
        w1.copy(&a, 0, before.vui_flag_at);
        let mut w2 = BitWriter::default();
        w2.copy(&b, 0, before.vui_flag_at);
        assert_eq!(w1.finish_rbsp(), w2.finish_rbsp());
    }

    #[test]
    fn a_vui_keeps_its_fields_and_gains_the_restriction() {
        let vui = rich_vui(None);
        let original = sps(Some(&vui), 2);
        let rewritten = check_rewrite(&original);
        assert_eq!(reorder_of(&rewritten), Some((0, 2)));
        let (before, after) = (layout(&original).unwrap(), layout(&rewritten).unwrap());
        assert_eq!(after.restriction_flag_at, before.restriction_flag_at);
        let at = before.restriction_flag_at.unwrap();
        let (a, b) = (unescape(&original[1..]), unescape(&rewritten[1..]));
        let (mut w1, mut w2) = (BitWriter::default(), BitWriter::default());
        w1.copy(&a, 0, at);
        w2.copy(&b, 0, at);
        assert_eq!(
            w1.finish_rbsp(),
            w2.finish_rbsp(),
            "the VUI before the restriction"
        );
    }

    #[test]
    fn an_existing_restriction_is_rewritten_or_left() {
        let vui = rich_vui(Some((2, 4)));
        let original = sps(Some(&vui), 4);
        let rewritten = check_rewrite(&original);
        assert_eq!(reorder_of(&rewritten), Some((0, 4)));
        let r = layout(&rewritten).unwrap().restriction.unwrap();
        assert_eq!(
            (
                r.log2_max_mv_length_horizontal,
                r.log2_max_mv_length_vertical
            ),
            (16, 16),
            "the other fields are kept"
        );
        let vui = rich_vui(Some((0, 1)));
        assert_eq!(without_reordering(&sps(Some(&vui), 1)).unwrap(), None);
    }

    #[test]
    fn real_x264_spss() {
        use crate::fmp4::params::tests::{BASELINE_SPS, HIGH_SPS};
        for sps in [BASELINE_SPS, HIGH_SPS] {
            if layout(sps).unwrap().restriction.is_none() {
                check_rewrite(sps);
            }
        }
    }

    #[test]
    fn high_profile_with_scaling_matrices() {
        let mut w = BitWriter::default();
        w.bits(8, 100);
        w.bits(8, 0);
        w.bits(8, 40);
        w.ue(0);
        w.ue(1); // 4:2:0
        w.ue(0);
        w.ue(0);
        w.bit(false);
        w.bit(true); // scaling matrices
        for i in 0..8 {
            w.bit(i % 2 == 0);
            if i == 0 {
                // delta_scale -8: the scale becomes 0, which ends the list at once
                // (useDefaultScalingMatrixFlag).
                w.ue(16);
            } else if i % 2 == 0 {
                let size = if i < 6 { 16 } else { 64 };
                for j in 0..size {
                    // delta_scale +1, -1, +1, …: the scale goes 9, 8, 9, … and never 0
                    // (which would end the list early).
                    w.ue(if j % 2 == 0 { 1 } else { 2 });
                }
            }
        }
        w.ue(0);
        w.ue(2); // poc type 2
        w.ue(1);
        w.bit(false);
        w.ue(119);
        w.ue(67);
        w.bit(true);
        w.bit(true);
        w.bit(false);
        w.bit(false); // no VUI
        let mut nal = vec![0x67];
        nal.extend_from_slice(&escape(&w.finish_rbsp()));
        check_rewrite(&nal);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(without_reordering(&[]), Err(SpsError::NotAnSps));
        assert_eq!(without_reordering(&[0x68, 1, 2]), Err(SpsError::NotAnSps));
        assert_eq!(without_reordering(&[0x67, 77]), Err(SpsError::Malformed));
        let full = sps(None, 1);
        for cut in 1..full.len() - 1 {
            assert!(
                without_reordering(&full[..cut]).is_err(),
                "cut at {cut} of {}",
                full.len()
            );
        }
    }
}
