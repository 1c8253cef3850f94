//! Video parameters: dimensions, decoder configuration record, codec string.

use std::fmt::Write as _;

use super::{Fmp4Error, MAX_CONFIG_LEN};

const AVCC: &str = "avcC";
const HVCC: &str = "hvcC";

/// The video codecs the writer packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 / AVC: sample entry `avc1` with an `avcC` box.
    H264,
    /// H.265 / HEVC: sample entry `hvc1` with an `hvcC` box.
    H265,
}

impl VideoCodec {
    /// The sample entry type in `stsd` (parameter sets out of band, in the record).
    pub fn sample_entry_type(self) -> [u8; 4] {
        match self {
            VideoCodec::H264 => *b"avc1",
            VideoCodec::H265 => *b"hvc1",
        }
    }

    /// The type of the box holding the decoder configuration record.
    pub fn config_box_type(self) -> [u8; 4] {
        match self {
            VideoCodec::H264 => *b"avcC",
            VideoCodec::H265 => *b"hvcC",
        }
    }
}

/// What the init segment is built from; compare two with `==` to detect a
/// parameter change (codec, dimensions and the record's bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VideoParams {
    codec: VideoCodec,
    width: u16,
    height: u16,
    decoder_config: Vec<u8>,
    codec_string: String,
}

impl VideoParams {
    /// H.264 parameters from the `avcC` AVCDecoderConfigurationRecord (what
    /// retina's `VideoParameters::extra_data()` gives for H.264) and the
    /// pixel dimensions. The record must announce 4-byte NAL lengths and hold
    /// at least one SPS and one PPS.
    pub fn h264(width: u32, height: u32, avcc: impl Into<Vec<u8>>) -> Result<Self, Fmp4Error> {
        let decoder_config = avcc.into();
        let codec_string = avc_codec_string(&decoder_config)?;
        Self::new(
            VideoCodec::H264,
            width,
            height,
            decoder_config,
            codec_string,
        )
    }

    /// H.265 parameters from the `hvcC` HEVCDecoderConfigurationRecord and the
    /// pixel dimensions. The record must announce 4-byte NAL lengths and hold
    /// at least one SPS and one PPS.
    pub fn h265(width: u32, height: u32, hvcc: impl Into<Vec<u8>>) -> Result<Self, Fmp4Error> {
        let decoder_config = hvcc.into();
        let codec_string = hevc_codec_string(&decoder_config)?;
        Self::new(
            VideoCodec::H265,
            width,
            height,
            decoder_config,
            codec_string,
        )
    }

    fn new(
        codec: VideoCodec,
        width: u32,
        height: u32,
        decoder_config: Vec<u8>,
        codec_string: String,
    ) -> Result<Self, Fmp4Error> {
        let dims = (u16::try_from(width), u16::try_from(height));
        let (Ok(w), Ok(h)) = dims else {
            return Err(Fmp4Error::InvalidDimensions { width, height });
        };
        if w == 0 || h == 0 {
            return Err(Fmp4Error::InvalidDimensions { width, height });
        }
        Ok(Self {
            codec,
            width: w,
            height: h,
            decoder_config,
            codec_string,
        })
    }

    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// The `avcC`/`hvcC` record bytes, as given.
    pub fn decoder_config(&self) -> &[u8] {
        &self.decoder_config
    }

    /// RFC 6381 codec string, e.g. `avc1.42C01E` or `hvc1.1.6.L93.B0`.
    pub fn rfc6381_codec(&self) -> &str {
        &self.codec_string
    }

    /// These parameters with every SPS rewritten to announce that no frame is reordered
    /// (see [`super::sps`]), for an H.264 stream without B-frames: browsers then show each
    /// frame as soon as it is decoded. `None` for H.265 (its SPS always says), when the SPS
    /// already announces no reordering, or when it cannot be read.
    pub fn without_reordering(&self) -> Option<VideoParams> {
        if self.codec != VideoCodec::H264 {
            return None;
        }
        let record = &self.decoder_config;
        let mut r = Reader {
            record: AVCC,
            buf: record,
            pos: 5,
        };
        let num_sps = r.u8().ok()? & 0x1F;
        let mut out = record[..6].to_vec();
        let mut changed = false;
        for _ in 0..num_sps {
            let sps = r.nal_unit().ok()?;
            let sps = match super::sps::without_reordering(sps).ok()? {
                Some(rewritten) => {
                    changed = true;
                    rewritten
                }
                None => sps.to_vec(),
            };
            out.extend_from_slice(&u16::try_from(sps.len()).ok()?.to_be_bytes());
            out.extend_from_slice(&sps);
        }
        out.extend_from_slice(&record[r.pos..]);
        if !changed {
            return None;
        }
        let mut params = self.clone();
        params.decoder_config = out;
        Some(params)
    }

    /// MIME type for `MediaSource.isTypeSupported` / `addSourceBuffer`,
    /// e.g. `video/mp4; codecs="avc1.42C01E"`.
    pub fn mime_type(&self) -> String {
        format!("video/mp4; codecs=\"{}\"", self.codec_string)
    }
}

/// A big-endian reader over a record that reports where it ran out.
struct Reader<'a> {
    record: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fmp4Error> {
        let malformed = Fmp4Error::MalformedConfig {
            record: self.record,
            offset: self.pos,
        };
        let end = self.pos.checked_add(n).ok_or(malformed.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(malformed)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, Fmp4Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Fmp4Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A parameter set: 16-bit length, then the NAL unit.
    fn nal_unit(&mut self) -> Result<&'a [u8], Fmp4Error> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

fn check_len(record: &'static str, buf: &[u8], needed: usize) -> Result<(), Fmp4Error> {
    if buf.len() > MAX_CONFIG_LEN {
        return Err(Fmp4Error::ConfigTooLong {
            record,
            len: buf.len(),
        });
    }
    if buf.len() < needed {
        return Err(Fmp4Error::ConfigTooShort {
            record,
            needed,
            len: buf.len(),
        });
    }
    Ok(())
}

/// Validates an `avcC` record and derives the RFC 6381 codec string
/// `avc1.PPCCLL` (profile_idc, constraint flags, level_idc in hex) from its
/// first SPS.
pub fn avc_codec_string(avcc: &[u8]) -> Result<String, Fmp4Error> {
    check_len(AVCC, avcc, 7)?;
    if avcc[0] != 1 {
        return Err(Fmp4Error::UnsupportedConfigVersion {
            record: AVCC,
            version: avcc[0],
        });
    }
    let length_size = (avcc[4] & 0x03) + 1;
    if length_size != 4 {
        return Err(Fmp4Error::UnsupportedNalLengthSize {
            record: AVCC,
            size: length_size,
        });
    }
    let mut r = Reader {
        record: AVCC,
        buf: avcc,
        pos: 5,
    };
    let num_sps = r.u8()? & 0x1F;
    let mut first_sps = None;
    for _ in 0..num_sps {
        let sps = r.nal_unit()?;
        first_sps.get_or_insert(sps);
    }
    let num_pps = r.u8()?;
    for _ in 0..num_pps {
        r.nal_unit()?;
    }
    // Bytes after the PPS list (the High profile extension) are left as they are.
    let sps = first_sps.ok_or(Fmp4Error::NoSps { record: AVCC })?;
    if num_pps == 0 {
        return Err(Fmp4Error::NoPps { record: AVCC });
    }
    match sps.first() {
        Some(header) if header & 0x1F == 7 => {}
        Some(_) => return Err(Fmp4Error::InvalidSps("not an SPS NAL unit (type 7)")),
        None => return Err(Fmp4Error::InvalidSps("empty")),
    }
    let rbsp = super::bits::unescape(&sps[1..sps.len().min(8)]);
    let rbsp = rbsp.get(..3).unwrap_or(&rbsp);
    let [profile_idc, constraints, level_idc] = rbsp[..] else {
        return Err(Fmp4Error::InvalidSps("shorter than profile and level"));
    };
    Ok(format!(
        "avc1.{profile_idc:02X}{constraints:02X}{level_idc:02X}"
    ))
}

/// The parameter sets (SPS first, then PPS) of an `avcC` record, as NAL units: what an
/// RTP sender puts before each keyframe so that a receiver joining at it can decode.
pub fn avc_parameter_sets(avcc: &[u8]) -> Result<Vec<&[u8]>, Fmp4Error> {
    avc_codec_string(avcc)?; // validates the record
    let mut r = Reader {
        record: AVCC,
        buf: avcc,
        pos: 5,
    };
    let mut sets = Vec::new();
    let num_sps = r.u8()? & 0x1F;
    for _ in 0..num_sps {
        sets.push(r.nal_unit()?);
    }
    let num_pps = r.u8()?;
    for _ in 0..num_pps {
        sets.push(r.nal_unit()?);
    }
    Ok(sets)
}

/// Validates an `hvcC` record and derives the RFC 6381 codec string from its
/// general profile, tier and level fields, per ISO/IEC 14496-15 Annex E:
/// `hvc1.[A-C]?<profile_idc>.<compat flags, bit-reversed, hex>.<L|H><level_idc>`
/// followed by the constraint indicator bytes in hex, trailing zero bytes
/// omitted, e.g. `hvc1.1.6.L93.B0`.
pub fn hevc_codec_string(hvcc: &[u8]) -> Result<String, Fmp4Error> {
    check_len(HVCC, hvcc, 23)?;
    if hvcc[0] != 1 {
        return Err(Fmp4Error::UnsupportedConfigVersion {
            record: HVCC,
            version: hvcc[0],
        });
    }
    let length_size = (hvcc[21] & 0x03) + 1;
    if length_size != 4 {
        return Err(Fmp4Error::UnsupportedNalLengthSize {
            record: HVCC,
            size: length_size,
        });
    }
    let mut r = Reader {
        record: HVCC,
        buf: hvcc,
        pos: 22,
    };
    let num_arrays = r.u8()?;
    let (mut sps_count, mut pps_count) = (0usize, 0usize);
    for _ in 0..num_arrays {
        let nal_type = r.u8()? & 0x3F;
        let num_nalus = r.u16()?;
        for _ in 0..num_nalus {
            let nal = r.nal_unit()?;
            match nal_type {
                33 => {
                    if nal.len() < 2 || (nal[0] >> 1) & 0x3F != 33 {
                        return Err(Fmp4Error::InvalidSps("not an SPS NAL unit (type 33)"));
                    }
                    sps_count += 1;
                }
                34 => pps_count += 1,
                _ => {}
            }
        }
    }
    if sps_count == 0 {
        return Err(Fmp4Error::NoSps { record: HVCC });
    }
    if pps_count == 0 {
        return Err(Fmp4Error::NoPps { record: HVCC });
    }

    let profile_space = hvcc[1] >> 6;
    let tier_flag = (hvcc[1] >> 5) & 1;
    let profile_idc = hvcc[1] & 0x1F;
    let compat = u32::from_be_bytes([hvcc[2], hvcc[3], hvcc[4], hvcc[5]]);
    let constraints = &hvcc[6..12];
    let level_idc = hvcc[12];

    let space = ["", "A", "B", "C"][usize::from(profile_space)];
    let tier = if tier_flag == 1 { 'H' } else { 'L' };
    let mut s = format!(
        "hvc1.{space}{profile_idc}.{:X}.{tier}{level_idc}",
        compat.reverse_bits()
    );
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for b in &constraints[..used] {
        let _ = write!(s, ".{b:X}");
    }
    Ok(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real x264 Baseline 3.0 SPS (640x480) and its PPS.
    pub(crate) const BASELINE_SPS: &[u8] = &[
        0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x3D, 0xB0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
        0x00, 0x00, 0x03, 0x00, 0x32, 0x0F, 0x16, 0x2E, 0x48,
    ];
    pub(crate) const BASELINE_PPS: &[u8] = &[0x68, 0xCB, 0x83, 0xCB, 0x20];
    /// A real x264 High 4.0 SPS (1920x1080) and its PPS.
    pub(crate) const HIGH_SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
    ];
    const HIGH_PPS: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0];
    /// Real x265 Main (level 3.1) VPS, SPS and PPS (1280x720).
    const HEVC_VPS: &[u8] = &[
        0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x5D, 0x95, 0x98, 0x09,
    ];
    const HEVC_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x5D, 0xA0, 0x02, 0x80, 0x80, 0x2D, 0x16, 0x59, 0x59, 0xA4, 0x93, 0x2B, 0xC0,
        0x5A, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    const HEVC_PPS: &[u8] = &[0x44, 0x01, 0xC1, 0x72, 0xB4, 0x62, 0x40];

    /// Builds an `avcC` by hand: header fields copied from the SPS, as encoders do.
    pub(crate) fn avcc(sps: &[u8], pps: &[u8]) -> Vec<u8> {
        let at = |i: usize| sps.get(i).copied().unwrap_or(0);
        let mut v = vec![1, at(1), at(2), at(3), 0xFF, 0xE1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(sps);
        v.push(1);
        v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        v.extend_from_slice(pps);
        v
    }

    /// Builds an `hvcC` by hand with the given 12 profile/tier/level bytes.
    fn hvcc(ptl: &[u8; 12], nals: &[(u8, &[u8])]) -> Vec<u8> {
        let mut v = vec![1];
        v.extend_from_slice(ptl);
        v.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F]);
        v.push(nals.len() as u8);
        for (t, nal) in nals {
            v.push(0x80 | t);
            v.extend_from_slice(&1u16.to_be_bytes());
            v.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            v.extend_from_slice(nal);
        }
        v
    }

    pub(crate) fn real_hvcc() -> Vec<u8> {
        // general_profile_space..general_level_idc, from the SPS RBSP.
        let ptl = [
            0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5D,
        ];
        hvcc(&ptl, &[(32, HEVC_VPS), (33, HEVC_SPS), (34, HEVC_PPS)])
    }

    #[test]
    fn baseline_30() {
        let p = VideoParams::h264(640, 480, avcc(BASELINE_SPS, BASELINE_PPS)).unwrap();
        assert_eq!(p.rfc6381_codec(), "avc1.42C01E");
        assert_eq!(p.mime_type(), "video/mp4; codecs=\"avc1.42C01E\"");
        assert_eq!(p.codec(), VideoCodec::H264);
        assert_eq!((p.width(), p.height()), (640, 480));
    }

    #[test]
    fn high_40() {
        let p = VideoParams::h264(1920, 1080, avcc(HIGH_SPS, HIGH_PPS)).unwrap();
        assert_eq!(p.rfc6381_codec(), "avc1.640028");
    }

    #[test]
    fn codec_string_comes_from_sps_not_record_header() {
        let mut a = avcc(HIGH_SPS, HIGH_PPS);
        a[1..4].copy_from_slice(&[0x42, 0, 0x0A]);
        assert_eq!(avc_codec_string(&a).unwrap(), "avc1.640028");
    }

    #[test]
    fn sps_emulation_prevention_is_removed() {
        // profile_idc 0 and constraint byte 0 force an emulation prevention byte.
        let sps = [0x67, 0x00, 0x00, 0x03, 0x1F, 0xAA];
        assert_eq!(
            avc_codec_string(&avcc(&sps, BASELINE_PPS)).unwrap(),
            "avc1.00001F"
        );
    }

    #[test]
    fn high_profile_extension_bytes_are_accepted() {
        let mut a = avcc(HIGH_SPS, HIGH_PPS);
        a.extend_from_slice(&[0xFD, 0xF8, 0xF8, 0x00]);
        assert_eq!(avc_codec_string(&a).unwrap(), "avc1.640028");
    }

    #[test]
    fn bad_avcc() {
        let good = avcc(BASELINE_SPS, BASELINE_PPS);
        assert!(matches!(
            avc_codec_string(&good[..5]),
            Err(Fmp4Error::ConfigTooShort {
                needed: 7,
                len: 5,
                ..
            })
        ));
        let mut v0 = good.clone();
        v0[0] = 0;
        assert!(matches!(
            avc_codec_string(&v0),
            Err(Fmp4Error::UnsupportedConfigVersion { version: 0, .. })
        ));
        let mut len2 = good.clone();
        len2[4] = 0xFD;
        assert!(matches!(
            avc_codec_string(&len2),
            Err(Fmp4Error::UnsupportedNalLengthSize { size: 2, .. })
        ));
        assert!(matches!(
            avc_codec_string(&[1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0x01, 0x00, 0x01, 0x68]),
            Err(Fmp4Error::NoSps { .. })
        ));
        assert!(matches!(
            avc_codec_string(&good[..good.len() - 8]),
            Err(Fmp4Error::MalformedConfig { .. })
        ));
        let mut no_pps = good[..good.len() - 8].to_vec();
        no_pps.push(0);
        assert!(matches!(
            avc_codec_string(&no_pps),
            Err(Fmp4Error::NoPps { .. })
        ));
        assert!(matches!(
            avc_codec_string(&avcc(BASELINE_PPS, BASELINE_PPS)),
            Err(Fmp4Error::InvalidSps(_))
        ));
        assert!(matches!(
            avc_codec_string(&avcc(&[0x67, 0x42, 0xC0], BASELINE_PPS)),
            Err(Fmp4Error::InvalidSps(_))
        ));
        assert!(matches!(
            VideoParams::h264(0, 480, good.clone()),
            Err(Fmp4Error::InvalidDimensions { .. })
        ));
        assert!(matches!(
            VideoParams::h264(70_000, 480, good),
            Err(Fmp4Error::InvalidDimensions { .. })
        ));
        let huge = vec![1u8; MAX_CONFIG_LEN + 1];
        assert!(matches!(
            avc_codec_string(&huge),
            Err(Fmp4Error::ConfigTooLong { .. })
        ));
    }

    #[test]
    fn hevc_main_from_real_x265() {
        let p = VideoParams::h265(1280, 720, real_hvcc()).unwrap();
        assert_eq!(p.rfc6381_codec(), "hvc1.1.6.L93.90");
        assert_eq!(p.codec().sample_entry_type(), *b"hvc1");
    }

    #[test]
    fn hevc_annex_e_examples() {
        let sps: &[u8] = &[0x42, 0x01];
        let pps: &[u8] = &[0x44, 0x01];
        // Main, level 3.1, progressive source: the classic "hvc1.1.6.L93.B0".
        let main = [0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93];
        assert_eq!(
            hevc_codec_string(&hvcc(&main, &[(33, sps), (34, pps)])).unwrap(),
            "hvc1.1.6.L93.B0"
        );
        // Main 10, high tier, level 4: compat flag 2 set -> 4 reversed.
        let main10 = [0x22, 0x20, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 120];
        assert_eq!(
            hevc_codec_string(&hvcc(&main10, &[(33, sps), (34, pps)])).unwrap(),
            "hvc1.2.4.H120.B0"
        );
        // Profile space 1 (A), no constraint bytes, several constraint bytes.
        let spaced = [0x41, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 90];
        assert_eq!(
            hevc_codec_string(&hvcc(&spaced, &[(33, sps), (34, pps)])).unwrap(),
            "hvc1.A1.6.L90"
        );
        let bytes = [0x01, 0x60, 0, 0, 0, 0x90, 0, 0x3, 0, 0, 0, 93];
        assert_eq!(
            hevc_codec_string(&hvcc(&bytes, &[(33, sps), (34, pps)])).unwrap(),
            "hvc1.1.6.L93.90.0.3"
        );
    }

    #[test]
    fn bad_hvcc() {
        let good = real_hvcc();
        assert!(matches!(
            hevc_codec_string(&good[..22]),
            Err(Fmp4Error::ConfigTooShort { .. })
        ));
        assert!(matches!(
            hevc_codec_string(&good[..good.len() - 1]),
            Err(Fmp4Error::MalformedConfig { .. })
        ));
        let ptl = [0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        assert!(matches!(
            hevc_codec_string(&hvcc(&ptl, &[(32, HEVC_VPS), (34, HEVC_PPS)])),
            Err(Fmp4Error::NoSps { .. })
        ));
        assert!(matches!(
            hevc_codec_string(&hvcc(&ptl, &[(33, HEVC_SPS)])),
            Err(Fmp4Error::NoPps { .. })
        ));
        assert!(matches!(
            hevc_codec_string(&hvcc(&ptl, &[(33, HEVC_PPS), (34, HEVC_PPS)])),
            Err(Fmp4Error::InvalidSps(_))
        ));
        let mut len1 = good;
        len1[21] &= 0xFC;
        assert!(matches!(
            hevc_codec_string(&len1),
            Err(Fmp4Error::UnsupportedNalLengthSize { size: 1, .. })
        ));
    }
}
