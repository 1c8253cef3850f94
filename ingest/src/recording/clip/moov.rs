//! The `moov` of a progressive (non-fragmented) MP4: one video track with
//! full sample tables, so that the file has a duration and seeks in any
//! player without reading it all.

use crate::fmp4::boxes::{put_unity_matrix, write_box, write_full_box, Put};
use crate::fmp4::{TIMESCALE, TRACK_ID};

/// One sample of the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClipSample {
    pub size: u32,
    pub duration: u32,
    pub is_keyframe: bool,
    /// 1-based index into the sample entries.
    pub entry: u32,
    /// Starts a new chunk (its bytes are not contiguous with the previous
    /// sample's in the sources).
    pub new_chunk: bool,
}

/// What the `moov` describes.
pub(super) struct Track<'a> {
    pub width: u16,
    pub height: u16,
    /// Sample entries (`avc1`/`hvc1` boxes), as recorded.
    pub entries: &'a [Vec<u8>],
    pub samples: &'a [ClipSample],
}

/// `ftyp` of the clip.
pub(super) fn ftyp() -> Vec<u8> {
    let mut out = Vec::new();
    write_box(&mut out, b"ftyp", |out| {
        out.extend_from_slice(b"isom");
        out.put_u32(512);
        for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
    out
}

/// The `moov`, with the chunks' data starting at `data_offset` in the file
/// and following each other.
pub(super) fn moov(track: &Track<'_>, data_offset: u64) -> Vec<u8> {
    let duration: u64 = track.samples.iter().map(|s| u64::from(s.duration)).sum();
    let mut out = Vec::new();
    write_box(&mut out, b"moov", |out| {
        write_full_box(out, b"mvhd", 1, 0, |out| {
            out.put_u64(0); // creation_time
            out.put_u64(0); // modification_time
            out.put_u32(TIMESCALE);
            out.put_u64(duration);
            out.put_u32(0x0001_0000); // rate 1.0
            out.put_u16(0x0100); // volume 1.0
            out.put_zeros(10);
            put_unity_matrix(out);
            out.put_zeros(24);
            out.put_u32(TRACK_ID + 1);
        });
        write_box(out, b"trak", |out| {
            write_full_box(out, b"tkhd", 1, 0x3, |out| {
                out.put_u64(0);
                out.put_u64(0);
                out.put_u32(TRACK_ID);
                out.put_u32(0);
                out.put_u64(duration);
                out.put_zeros(8);
                out.put_u16(0); // layer
                out.put_u16(0); // alternate_group
                out.put_u16(0); // volume
                out.put_u16(0);
                put_unity_matrix(out);
                out.put_u32(u32::from(track.width) << 16);
                out.put_u32(u32::from(track.height) << 16);
            });
            write_box(out, b"mdia", |out| {
                write_full_box(out, b"mdhd", 1, 0, |out| {
                    out.put_u64(0);
                    out.put_u64(0);
                    out.put_u32(TIMESCALE);
                    out.put_u64(duration);
                    out.put_u16(0x55C4); // "und"
                    out.put_u16(0);
                });
                write_full_box(out, b"hdlr", 0, 0, |out| {
                    out.put_u32(0);
                    out.extend_from_slice(b"vide");
                    out.put_zeros(12);
                    out.extend_from_slice(b"VideoHandler\0");
                });
                write_box(out, b"minf", |out| {
                    write_full_box(out, b"vmhd", 0, 1, |out| out.put_zeros(8));
                    write_box(out, b"dinf", |out| {
                        write_full_box(out, b"dref", 0, 0, |out| {
                            out.put_u32(1);
                            write_full_box(out, b"url ", 0, 1, |_| {});
                        });
                    });
                    write_box(out, b"stbl", |out| write_stbl(out, track, data_offset));
                });
            });
        });
    });
    out
}

fn write_stbl(out: &mut Vec<u8>, track: &Track<'_>, data_offset: u64) {
    let samples = track.samples;
    write_full_box(out, b"stsd", 0, 0, |out| {
        out.put_u32(track.entries.len() as u32);
        for entry in track.entries {
            out.extend_from_slice(entry);
        }
    });
    // Decoding times: runs of equal durations.
    let mut stts: Vec<(u32, u32)> = Vec::new();
    for s in samples {
        match stts.last_mut() {
            Some((count, d)) if *d == s.duration => *count += 1,
            _ => stts.push((1, s.duration)),
        }
    }
    write_full_box(out, b"stts", 0, 0, |out| {
        out.put_u32(stts.len() as u32);
        for (count, duration) in &stts {
            out.put_u32(*count);
            out.put_u32(*duration);
        }
    });
    let sync: Vec<u32> = (1..)
        .zip(samples)
        .filter(|(_, s)| s.is_keyframe)
        .map(|(n, _)| n)
        .collect();
    write_full_box(out, b"stss", 0, 0, |out| {
        out.put_u32(sync.len() as u32);
        for n in &sync {
            out.put_u32(*n);
        }
    });
    write_full_box(out, b"stsz", 0, 0, |out| {
        out.put_u32(0); // sizes differ
        out.put_u32(samples.len() as u32);
        for s in samples {
            out.put_u32(s.size);
        }
    });
    // Chunks: (samples in it, sample entry, offset).
    let mut chunks: Vec<(u32, u32, u64)> = Vec::new();
    let mut offset = data_offset;
    for s in samples {
        match chunks.last_mut() {
            Some((count, entry, _)) if !s.new_chunk && *entry == s.entry => *count += 1,
            _ => chunks.push((1, s.entry, offset)),
        }
        offset += u64::from(s.size);
    }
    let mut stsc: Vec<(u32, u32, u32)> = Vec::new();
    for (i, (count, entry, _)) in chunks.iter().enumerate() {
        if stsc.last().is_none_or(|(_, c, e)| c != count || e != entry) {
            stsc.push((i as u32 + 1, *count, *entry));
        }
    }
    write_full_box(out, b"stsc", 0, 0, |out| {
        out.put_u32(stsc.len() as u32);
        for (first, count, entry) in &stsc {
            out.put_u32(*first);
            out.put_u32(*count);
            out.put_u32(*entry);
        }
    });
    write_full_box(out, b"co64", 0, 0, |out| {
        out.put_u32(chunks.len() as u32);
        for (_, _, offset) in &chunks {
            out.put_u64(*offset);
        }
    });
}
