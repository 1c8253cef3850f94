//! Reading segments back: strict parsers for exactly the structure this
//! module writes, for tests, fuzzing and debugging (not a general MP4
//! demuxer). Every box must lie within its parent, children must fill their
//! parent exactly, and boxes must come in the order the writer uses.

use std::ops::Range;

use super::Fmp4Error;

fn malformed(offset: usize, reason: &'static str) -> Fmp4Error {
    Fmp4Error::MalformedBox { offset, reason }
}

/// One box within a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxRef<'a> {
    /// Box type, e.g. `*b"moof"`.
    pub kind: [u8; 4],
    /// Offset of the box header in the outermost buffer read.
    pub offset: usize,
    /// 8, or 16 with a 64-bit `largesize`.
    pub header_len: usize,
    /// The box's contents after its header.
    pub payload: &'a [u8],
}

impl<'a> BoxRef<'a> {
    /// Total size, header included.
    pub fn size(&self) -> usize {
        self.header_len + self.payload.len()
    }

    /// Offset of the payload in the outermost buffer.
    pub fn payload_offset(&self) -> usize {
        self.offset + self.header_len
    }

    /// The payload read as boxes that fill it exactly.
    pub fn children(&self) -> Result<Vec<BoxRef<'a>>, Fmp4Error> {
        read_boxes_at(self.payload, self.payload_offset())
    }

    /// The payload's children after skipping `skip` bytes of fields.
    fn children_after(&self, skip: usize) -> Result<Vec<BoxRef<'a>>, Fmp4Error> {
        let rest = self
            .payload
            .get(skip..)
            .ok_or(malformed(self.offset, "box shorter than its fields"))?;
        read_boxes_at(rest, self.payload_offset() + skip)
    }

    /// A full box's version, flags and the remaining payload.
    pub fn full_box(&self) -> Result<(u8, u32, Cursor<'a>), Fmp4Error> {
        let mut c = Cursor::new(self.payload, self.payload_offset());
        let vf = c.u32()?;
        Ok(((vf >> 24) as u8, vf & 0x00FF_FFFF, c))
    }
}

/// Reads `buf` as a sequence of boxes that fills it exactly.
pub fn read_boxes(buf: &[u8]) -> Result<Vec<BoxRef<'_>>, Fmp4Error> {
    read_boxes_at(buf, 0)
}

fn read_boxes_at(buf: &[u8], base: usize) -> Result<Vec<BoxRef<'_>>, Fmp4Error> {
    let mut boxes = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let at = base + pos;
        let rest = &buf[pos..];
        if rest.len() < 8 {
            return Err(malformed(at, "truncated box header"));
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let (header_len, size) = match size32 {
            0 => (8, rest.len()),
            1 => {
                let large = rest
                    .get(8..16)
                    .ok_or(malformed(at, "truncated largesize"))?;
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                let size = usize::try_from(u64::from_be_bytes(b))
                    .map_err(|_| malformed(at, "box larger than the buffer"))?;
                (16, size)
            }
            n => (8, n as usize),
        };
        if size < header_len {
            return Err(malformed(at, "box size smaller than its header"));
        }
        if size > rest.len() {
            return Err(malformed(at, "box runs past the end of its parent"));
        }
        boxes.push(BoxRef {
            kind,
            offset: at,
            header_len,
            payload: &rest[header_len..size],
        });
        pos += size;
    }
    Ok(boxes)
}

/// Big-endian field reader over a box payload.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Fmp4Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(malformed(self.base + self.pos, "truncated box fields"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, Fmp4Error> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, Fmp4Error> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Fmp4Error> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn fourcc(&mut self) -> Result<[u8; 4], Fmp4Error> {
        let b = self.bytes(4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), Fmp4Error> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(malformed(
                self.base + self.pos,
                "unexpected bytes at the end of a box",
            ))
        }
    }
}

/// Checks that `boxes` are exactly of the kinds `expected`, in order.
fn expect_kinds(
    boxes: &[BoxRef<'_>],
    parent: usize,
    expected: &[&[u8; 4]],
) -> Result<(), Fmp4Error> {
    if boxes.len() != expected.len() {
        return Err(malformed(parent, "unexpected number of child boxes"));
    }
    for (b, kind) in boxes.iter().zip(expected) {
        if &b.kind != *kind {
            return Err(malformed(b.offset, "unexpected box type"));
        }
    }
    Ok(())
}

/// What an init segment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegmentInfo {
    pub major_brand: [u8; 4],
    pub compatible_brands: Vec<[u8; 4]>,
    /// `mvhd` timescale.
    pub movie_timescale: u32,
    /// `mdhd` timescale.
    pub timescale: u32,
    pub track_id: u32,
    /// Integer parts of `tkhd` width and height.
    pub track_width: u16,
    pub track_height: u16,
    /// `hdlr` handler type.
    pub handler: [u8; 4],
    /// `avc1` or `hvc1`.
    pub sample_entry: [u8; 4],
    /// Sample entry width and height.
    pub width: u16,
    pub height: u16,
    /// `avcC` or `hvcC`.
    pub config_box: [u8; 4],
    pub decoder_config: Vec<u8>,
    /// `trex` track ID.
    pub trex_track_id: u32,
}

/// Parses an init segment as [`super::init_segment`] writes it.
pub fn parse_init_segment(buf: &[u8]) -> Result<InitSegmentInfo, Fmp4Error> {
    let top = read_boxes(buf)?;
    expect_kinds(&top, 0, &[b"ftyp", b"moov"])?;
    let (ftyp, moov) = (top[0], top[1]);

    let mut c = Cursor::new(ftyp.payload, ftyp.payload_offset());
    let major_brand = c.fourcc()?;
    c.u32()?; // minor_version
    let mut compatible_brands = Vec::new();
    while c.remaining() > 0 {
        compatible_brands.push(c.fourcc()?);
    }

    let moov_children = moov.children()?;
    expect_kinds(&moov_children, moov.offset, &[b"mvhd", b"trak", b"mvex"])?;
    let (mvhd, trak, mvex) = (moov_children[0], moov_children[1], moov_children[2]);

    let (_, _, mut c) = mvhd.full_box()?;
    c.bytes(8)?; // creation and modification time (version 0)
    let movie_timescale = c.u32()?;
    c.bytes(4 + 4 + 2 + 10 + 36 + 24 + 4)?;
    c.finish()?;

    let trak_children = trak.children()?;
    expect_kinds(&trak_children, trak.offset, &[b"tkhd", b"mdia"])?;
    let (tkhd, mdia) = (trak_children[0], trak_children[1]);
    let (_, _, mut c) = tkhd.full_box()?;
    c.bytes(8)?;
    let track_id = c.u32()?;
    c.bytes(4 + 4 + 8 + 2 + 2 + 2 + 2 + 36)?;
    let track_width = (c.u32()? >> 16) as u16;
    let track_height = (c.u32()? >> 16) as u16;
    c.finish()?;

    let mdia_children = mdia.children()?;
    expect_kinds(&mdia_children, mdia.offset, &[b"mdhd", b"hdlr", b"minf"])?;
    let (_, _, mut c) = mdia_children[0].full_box()?;
    c.bytes(8)?;
    let timescale = c.u32()?;
    c.bytes(4 + 2 + 2)?;
    c.finish()?;
    let (_, _, mut c) = mdia_children[1].full_box()?;
    c.u32()?; // pre_defined
    let handler = c.fourcc()?;

    let minf = mdia_children[2];
    let minf_children = minf.children()?;
    expect_kinds(&minf_children, minf.offset, &[b"vmhd", b"dinf", b"stbl"])?;
    let dinf_children = minf_children[1].children()?;
    expect_kinds(&dinf_children, minf_children[1].offset, &[b"dref"])?;
    let dref_entries = dinf_children[0].children_after(8)?;
    expect_kinds(&dref_entries, dinf_children[0].offset, &[b"url "])?;

    let stbl = minf_children[2];
    let stbl_children = stbl.children()?;
    expect_kinds(
        &stbl_children,
        stbl.offset,
        &[b"stsd", b"stts", b"stsc", b"stsz", b"stco"],
    )?;
    let stsd = stbl_children[0];
    let entries = stsd.children_after(8)?;
    if entries.len() != 1 {
        return Err(malformed(stsd.offset, "expected one sample entry"));
    }
    let entry = entries[0];
    let config_box = match &entry.kind {
        b"avc1" => *b"avcC",
        b"hvc1" => *b"hvcC",
        _ => return Err(malformed(entry.offset, "unknown sample entry")),
    };
    let mut c = Cursor::new(entry.payload, entry.payload_offset());
    c.bytes(6 + 2 + 16)?;
    let width = c.u16()?;
    let height = c.u16()?;
    c.bytes(4 + 4 + 4 + 2 + 32 + 2 + 2)?;
    let entry_children = entry.children_after(78)?;
    expect_kinds(&entry_children, entry.offset, &[&config_box])?;
    let decoder_config = entry_children[0].payload.to_vec();

    let mvex_children = mvex.children()?;
    expect_kinds(&mvex_children, mvex.offset, &[b"trex"])?;
    let (_, _, mut c) = mvex_children[0].full_box()?;
    let trex_track_id = c.u32()?;
    c.bytes(16)?;
    c.finish()?;

    Ok(InitSegmentInfo {
        major_brand,
        compatible_brands,
        movie_timescale,
        timescale,
        track_id,
        track_width,
        track_height,
        handler,
        sample_entry: entry.kind,
        width,
        height,
        config_box,
        decoder_config,
        trex_track_id,
    })
}

/// One `trun` sample entry; fields the `trun` flags leave out are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunSample {
    pub duration: Option<u32>,
    pub size: Option<u32>,
    pub flags: Option<u32>,
}

/// A `prft` box: the wall-clock time that goes with a media time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerTime {
    pub flags: u32,
    pub track_id: u32,
    /// NTP format: seconds since 1900 in the upper 32 bits, the fraction in the lower.
    pub ntp_timestamp: u64,
    pub media_time: u64,
}

/// What a media segment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegmentInfo {
    /// The `prft` before the `moof`, if any.
    pub producer_time: Option<ProducerTime>,
    pub sequence_number: u32,
    pub track_id: u32,
    /// `tfdt` baseMediaDecodeTime.
    pub base_decode_time: u64,
    /// `tfdt` version (1: 64-bit).
    pub tfdt_version: u8,
    /// `trun` data_offset (from the start of the `moof`).
    pub data_offset: i32,
    pub samples: Vec<TrunSample>,
    /// Where each sample's bytes are in the segment.
    pub sample_ranges: Vec<Range<usize>>,
    /// Where the `mdat` payload is in the segment.
    pub mdat_payload: Range<usize>,
}

/// Parses a media segment as [`super::media_segment`] writes it: an optional
/// `prft`, `moof` (`mfhd`, `traf` with `tfhd` default-base-is-moof, `tfdt`,
/// `trun` with data offset and sample sizes) and `mdat`, every sample inside
/// the `mdat` payload.
pub fn parse_media_segment(buf: &[u8]) -> Result<MediaSegmentInfo, Fmp4Error> {
    let mut top = read_boxes(buf)?;
    let producer_time = match top.first() {
        Some(prft) if &prft.kind == b"prft" => {
            let producer_time = parse_prft(prft)?;
            top.remove(0);
            Some(producer_time)
        }
        _ => None,
    };
    let start = top.first().map_or(0, |b| b.offset);
    expect_kinds(&top, start, &[b"moof", b"mdat"])?;
    let (moof, mdat) = (top[0], top[1]);
    let moof_children = moof.children()?;
    expect_kinds(&moof_children, moof.offset, &[b"mfhd", b"traf"])?;
    let (_, _, mut c) = moof_children[0].full_box()?;
    let sequence_number = c.u32()?;
    c.finish()?;

    let traf = moof_children[1];
    let traf_children = traf.children()?;
    expect_kinds(&traf_children, traf.offset, &[b"tfhd", b"tfdt", b"trun"])?;
    let (tfhd, tfdt, trun) = (traf_children[0], traf_children[1], traf_children[2]);

    let (_, tfhd_flags, mut c) = tfhd.full_box()?;
    if tfhd_flags & 0x02_0000 == 0 || tfhd_flags & 0x1 != 0 {
        return Err(malformed(tfhd.offset, "tfhd is not default-base-is-moof"));
    }
    let track_id = c.u32()?;
    for (flag, len) in [(0x2, 4), (0x8, 4), (0x10, 4), (0x20, 4)] {
        if tfhd_flags & flag != 0 {
            c.bytes(len)?;
        }
    }
    c.finish()?;

    let (tfdt_version, _, mut c) = tfdt.full_box()?;
    let base_decode_time = match tfdt_version {
        0 => u64::from(c.u32()?),
        1 => c.u64()?,
        _ => return Err(malformed(tfdt.offset, "unknown tfdt version")),
    };
    c.finish()?;

    let (_, trun_flags, mut c) = trun.full_box()?;
    let sample_count = c.u32()? as usize;
    if trun_flags & 0x1 == 0 {
        return Err(malformed(trun.offset, "trun without data offset"));
    }
    if trun_flags & 0x200 == 0 {
        return Err(malformed(trun.offset, "trun without sample sizes"));
    }
    let data_offset = c.u32()? as i32;
    if trun_flags & 0x4 != 0 {
        c.u32()?; // first_sample_flags
    }
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| trun_flags & f != 0)
        .count()
        * 4;
    if sample_count.checked_mul(per_sample) != Some(c.remaining()) {
        return Err(malformed(
            trun.offset,
            "trun sample count does not match its size",
        ));
    }
    let mut samples = Vec::with_capacity(sample_count);
    for _ in 0..sample_count {
        let duration = if trun_flags & 0x100 != 0 {
            Some(c.u32()?)
        } else {
            None
        };
        let size = Some(c.u32()?);
        let flags = if trun_flags & 0x400 != 0 {
            Some(c.u32()?)
        } else {
            None
        };
        if trun_flags & 0x800 != 0 {
            c.u32()?; // composition time offset
        }
        samples.push(TrunSample {
            duration,
            size,
            flags,
        });
    }
    c.finish()?;

    let mdat_payload = mdat.payload_offset()..mdat.offset + mdat.size();
    let mut pos = usize::try_from(data_offset)
        .ok()
        .and_then(|d| moof.offset.checked_add(d))
        .ok_or(malformed(trun.offset, "negative data offset"))?;
    let mut sample_ranges = Vec::with_capacity(sample_count);
    for s in &samples {
        let size = s.size.unwrap_or(0) as usize;
        let end = pos
            .checked_add(size)
            .filter(|&end| pos >= mdat_payload.start && end <= mdat_payload.end)
            .ok_or(malformed(
                trun.offset,
                "sample data outside the mdat payload",
            ))?;
        sample_ranges.push(pos..end);
        pos = end;
    }

    Ok(MediaSegmentInfo {
        producer_time,
        sequence_number,
        track_id,
        base_decode_time,
        tfdt_version,
        data_offset,
        samples,
        sample_ranges,
        mdat_payload,
    })
}

fn parse_prft(prft: &BoxRef<'_>) -> Result<ProducerTime, Fmp4Error> {
    let (version, flags, mut c) = prft.full_box()?;
    let track_id = c.u32()?;
    let ntp_timestamp = c.u64()?;
    let media_time = match version {
        0 => u64::from(c.u32()?),
        1 => c.u64()?,
        _ => return Err(malformed(prft.offset, "unknown prft version")),
    };
    c.finish()?;
    Ok(ProducerTime {
        flags,
        track_id,
        ntp_timestamp,
        media_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(read_boxes(&[0, 0, 0, 7, b'f', b'r', b'e', b'e']).is_err());
        assert!(read_boxes(&[0, 0, 0, 9, b'f', b'r', b'e', b'e']).is_err());
        assert!(read_boxes(&[0, 0, 0, 8, b'f', b'r', b'e']).is_err());
        assert!(read_boxes(&[0, 0, 0, 1, b'f', b'r', b'e', b'e', 0, 0, 0, 0]).is_err());
        let b = read_boxes(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']).unwrap();
        assert_eq!((b.len(), b[0].size(), &b[0].kind), (1, 8, b"free"));
        let large = [
            0, 0, 0, 1, b'f', b'r', b'e', b'e', 0, 0, 0, 0, 0, 0, 0, 17, 42,
        ];
        let b = read_boxes(&large).unwrap();
        assert_eq!((b[0].header_len, b[0].payload), (16, &[42u8][..]));
        let to_end = read_boxes(&[0, 0, 0, 0, b'm', b'd', b'a', b't', 1, 2]).unwrap();
        assert_eq!(to_end[0].payload, &[1, 2]);
    }

    #[test]
    fn child_offsets_are_absolute() {
        let buf = [
            0, 0, 0, 8, b'f', b'r', b'e', b'e', 0, 0, 0, 16, b'm', b'o', b'o', b'v', 0, 0, 0, 8,
            b'm', b'v', b'e', b'x',
        ];
        let top = read_boxes(&buf).unwrap();
        let kids = top[1].children().unwrap();
        assert_eq!((kids[0].offset, kids[0].kind), (16, *b"mvex"));
    }
}
