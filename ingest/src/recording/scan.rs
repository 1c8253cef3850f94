//! Reading a recorded segment file back: its init segment, then its
//! fragments for as long as they are whole.
//!
//! Repair uses it to find where a torn file stops being valid, clips to
//! find each frame's bytes and time. Only the structure the recorder writes
//! is accepted (`ftyp`, `moov`, then `moof` + `mdat` pairs, as
//! [`crate::fmp4::inspect`] reads them); the first box that is incomplete,
//! malformed or unexpected ends the valid part.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fmp4::inspect::{parse_init_segment, parse_media_segment, read_boxes, BoxRef};
use crate::fmp4::{VideoParams, SYNC_SAMPLE_FLAGS};

/// Largest box read into memory; no fragment of a recording comes near it.
const MAX_BOX: u64 = 256 << 20;

/// Why a file is not a segment at all (its init segment is unreadable).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a recorded segment: {0}")]
    NotASegment(String),
}

/// The init segment's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedInit {
    /// `ftyp` + `moov` size.
    pub len: u64,
    /// The `stsd` box, header included, as recorded.
    pub stsd: Vec<u8>,
    /// RFC 6381 codec string.
    pub codec: String,
    pub width: u16,
    pub height: u16,
}

/// One sample of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedSample {
    /// Where its bytes are in the file.
    pub offset: u64,
    pub size: u32,
    pub duration: u32,
    pub is_keyframe: bool,
}

/// One whole fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFragment {
    pub offset: u64,
    pub len: u64,
    /// `tfdt`: its first sample's decode time from the segment's start.
    pub decode_time: u64,
    pub samples: Vec<ScannedSample>,
}

/// What a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    pub init: ScannedInit,
    pub fragments: Vec<ScannedFragment>,
    /// Where the last whole fragment ends.
    pub valid_len: u64,
    /// The file's size; more than `valid_len` for a torn file.
    pub file_len: u64,
    /// SHA-256 of the valid part, lowercase hex.
    pub sha256: String,
}

impl ScannedFile {
    pub fn frames(&self) -> u64 {
        self.fragments.iter().map(|f| f.samples.len() as u64).sum()
    }

    /// Decode time at the end of the last sample (90 kHz).
    pub fn duration(&self) -> u64 {
        self.fragments.last().map_or(0, |f| {
            f.decode_time + f.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>()
        })
    }

    /// Where decode time jumps between two fragments (frames lost: the writer resumed at the
    /// next keyframe with its own decode time), as `(from, to)` ticks from the segment's
    /// start. Within a stretch without loss each frame lasts until the next, so any jump is a
    /// hole.
    pub fn holes(&self) -> Vec<(u64, u64)> {
        self.fragments
            .windows(2)
            .filter_map(|pair| {
                let end = pair[0].decode_time
                    + pair[0]
                        .samples
                        .iter()
                        .map(|s| u64::from(s.duration))
                        .sum::<u64>();
                (pair[1].decode_time > end).then_some((end, pair[1].decode_time))
            })
            .collect()
    }

    pub fn is_torn(&self) -> bool {
        self.valid_len < self.file_len
    }
}

/// A century of 90 kHz ticks: no segment's fragment starts later than this after its first.
pub const MAX_DECODE_TICKS: u64 = 100 * 366 * 86_400 * 90_000;

/// Reads `path` as far as it is valid.
pub fn scan_file(path: &Path) -> Result<ScannedFile, ScanError> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BoxReader {
        file: &mut file,
        pos: 0,
        len: file_len,
    };
    let mut hasher = Sha256::new();

    let (init_bytes, init) = reader.init_segment()?;
    hasher.update(&init_bytes);

    let mut fragments = Vec::new();
    let mut valid_len = init.len;
    while let Some(moof) = reader.next_box()? {
        if &moof.kind != b"moof" {
            break;
        }
        let Some(mdat) = reader.next_box()? else {
            break;
        };
        if &mdat.kind != b"mdat" {
            break;
        }
        let offset = moof.offset;
        let mut bytes = moof.bytes;
        bytes.extend_from_slice(&mdat.bytes);
        let Ok(info) = parse_media_segment(&bytes) else {
            break;
        };
        // The recorder starts every segment's timeline at 0 and a segment lasts minutes: a
        // fragment decoded a century in is damage, and would carry its frames past any date.
        if info.base_decode_time > MAX_DECODE_TICKS {
            break;
        }
        let samples = info
            .samples
            .iter()
            .zip(&info.sample_ranges)
            .map(|(s, range)| ScannedSample {
                offset: offset + range.start as u64,
                size: s.size.unwrap_or(0),
                duration: s.duration.unwrap_or(0),
                is_keyframe: s.flags == Some(SYNC_SAMPLE_FLAGS),
            })
            .collect();
        hasher.update(&bytes);
        valid_len = offset + bytes.len() as u64;
        fragments.push(ScannedFragment {
            offset,
            len: bytes.len() as u64,
            decode_time: info.base_decode_time,
            samples,
        });
    }
    Ok(ScannedFile {
        init,
        fragments,
        valid_len,
        file_len,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn read_init(bytes: &[u8]) -> Result<ScannedInit, ScanError> {
    let bad = |e: &dyn std::fmt::Display| ScanError::NotASegment(format!("init segment: {e}"));
    let info = parse_init_segment(bytes).map_err(|e| bad(&e))?;
    let params = match &info.sample_entry {
        b"avc1" => VideoParams::h264(
            u32::from(info.width),
            u32::from(info.height),
            info.decoder_config.clone(),
        ),
        _ => VideoParams::h265(
            u32::from(info.width),
            u32::from(info.height),
            info.decoder_config.clone(),
        ),
    }
    .map_err(|e| bad(&e))?;
    let stsd = find_path(
        bytes,
        &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
    )
    .ok_or_else(|| bad(&"no stsd box"))?;
    Ok(ScannedInit {
        len: bytes.len() as u64,
        stsd: bytes[stsd.offset..stsd.offset + stsd.size()].to_vec(),
        codec: params.rfc6381_codec().to_string(),
        width: info.width,
        height: info.height,
    })
}

/// The box at a path of types, e.g. `moov/trak/…`.
fn find_path<'a>(bytes: &'a [u8], path: &[&[u8; 4]]) -> Option<BoxRef<'a>> {
    let mut boxes = read_boxes(bytes).ok()?;
    let mut found = None;
    for kind in path {
        let b = *boxes.iter().find(|b| &b.kind == *kind)?;
        found = Some(b);
        boxes = b.children().unwrap_or_default();
    }
    found
}

/// A box read whole.
pub(super) struct WholeBox {
    pub kind: [u8; 4],
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Reads boxes one after another from `pos` (where the file's cursor must be) up to `len`.
pub(super) struct BoxReader<'f> {
    pub file: &'f mut File,
    pub pos: u64,
    pub len: u64,
}

impl BoxReader<'_> {
    /// The init segment a segment file starts with (`ftyp` then a whole `moov`): its bytes
    /// and what they say.
    pub(super) fn init_segment(&mut self) -> Result<(Vec<u8>, ScannedInit), ScanError> {
        let ftyp = self
            .next_box()?
            .filter(|b| &b.kind == b"ftyp")
            .ok_or_else(|| ScanError::NotASegment("no ftyp box at the start".into()))?;
        let moov = self
            .next_box()?
            .filter(|b| &b.kind == b"moov")
            .ok_or_else(|| ScanError::NotASegment("no whole moov box after ftyp".into()))?;
        let mut bytes = ftyp.bytes;
        bytes.extend_from_slice(&moov.bytes);
        let init = read_init(&bytes)?;
        Ok((bytes, init))
    }

    /// The next box if it is whole (header and payload within the file,
    /// a plain 32-bit size of at least 8); `None` otherwise.
    pub(super) fn next_box(&mut self) -> io::Result<Option<WholeBox>> {
        if self.len - self.pos < 8 {
            return Ok(None);
        }
        let mut header = [0u8; 8];
        self.file.read_exact(&mut header)?;
        let size = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let kind = [header[4], header[5], header[6], header[7]];
        // The recorder never writes size 0 ("to the end") or 64-bit sizes;
        // zeros here are a torn write.
        if !(8..=MAX_BOX).contains(&size) || size > self.len - self.pos {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(size as usize);
        bytes.extend_from_slice(&header);
        bytes.resize(size as usize, 0);
        self.file.read_exact(&mut bytes[8..])?;
        let offset = self.pos;
        self.pos += size;
        Ok(Some(WholeBox {
            kind,
            offset,
            bytes,
        }))
    }
}
