//! A recorded segment read one fragment at a time, for playback: what a viewer holds is the
//! fragment being sent (about a second of video), never the whole file (a minute at 4 Mbit/s
//! is 30 MB, per viewer).
//!
//! The file may still be growing (the segment being written): a fragment is taken only once it
//! is whole (the writer appends whole `moof` + `mdat` pairs, see `segment.rs`), and asking again
//! later finds those written since. Where the valid part ends for good (a torn or foreign box)
//! looks the same as "not written yet"; the caller knows from the index whether the segment is
//! finished.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use crate::fmp4::inspect::parse_media_segment;
use crate::fmp4::SYNC_SAMPLE_FLAGS;

use super::scan::{BoxReader, ScanError, ScannedInit};

/// One sample of a [`Fragment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentSample {
    /// Where its bytes are in [`Fragment::bytes`].
    pub range: Range<usize>,
    /// 90 kHz; 0 when the recording gives none.
    pub duration: u32,
    pub is_keyframe: bool,
}

/// One whole fragment (`moof` + `mdat`), in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Where it starts in the file.
    pub offset: u64,
    /// `tfdt`: its first sample's decode time from the segment's start (90 kHz).
    pub decode_time: u64,
    pub samples: Vec<FragmentSample>,
    pub bytes: Vec<u8>,
}

impl Fragment {
    /// The decode time of sample `i`, from the segment's start.
    pub fn decode_time_of(&self, i: usize) -> u64 {
        // Saturating: a damaged file's decode time must not overflow (the replay refuses a
        // time past any date).
        self.samples[..i.min(self.samples.len())]
            .iter()
            .fold(self.decode_time, |t, s| {
                t.saturating_add(u64::from(s.duration))
            })
    }
}

/// A segment file being read fragment by fragment.
#[derive(Debug)]
pub struct FragmentReader {
    file: File,
    init: ScannedInit,
    init_bytes: Vec<u8>,
    /// Where the next fragment starts.
    pos: u64,
}

impl FragmentReader {
    /// Opens `path` and reads its init segment.
    pub fn open(path: &Path) -> Result<FragmentReader, ScanError> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut reader = BoxReader {
            file: &mut file,
            pos: 0,
            len,
        };
        let (init_bytes, init) = reader.init_segment()?;
        let pos = reader.pos;
        Ok(FragmentReader {
            file,
            init,
            init_bytes,
            pos,
        })
    }

    pub fn init(&self) -> &ScannedInit {
        &self.init
    }

    /// The init segment (`ftyp` + `moov`) as recorded.
    pub fn init_bytes(&self) -> &[u8] {
        &self.init_bytes
    }

    /// Where the next fragment will be read from.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Reads on from `offset` (a fragment's start, as [`Fragment::offset`] gave it).
    pub fn seek(&mut self, offset: u64) {
        self.pos = offset.max(self.init.len);
    }

    /// The next whole fragment; `None` at the end of what is written (for now).
    pub fn next_fragment(&mut self) -> io::Result<Option<Fragment>> {
        let len = self.file.metadata()?.len();
        self.file.seek(SeekFrom::Start(self.pos))?;
        let mut reader = BoxReader {
            file: &mut self.file,
            pos: self.pos,
            len,
        };
        let Some(moof) = reader.next_box()? else {
            return Ok(None);
        };
        if &moof.kind != b"moof" {
            return Ok(None);
        }
        let Some(mdat) = reader.next_box()? else {
            return Ok(None);
        };
        if &mdat.kind != b"mdat" {
            return Ok(None);
        }
        let offset = moof.offset;
        let mut bytes = moof.bytes;
        bytes.extend_from_slice(&mdat.bytes);
        let Ok(info) = parse_media_segment(&bytes) else {
            return Ok(None);
        };
        let samples = info
            .samples
            .iter()
            .zip(info.sample_ranges)
            .map(|(s, range)| FragmentSample {
                range,
                duration: s.duration.unwrap_or(0),
                is_keyframe: s.flags == Some(SYNC_SAMPLE_FLAGS),
            })
            .collect();
        self.pos = reader.pos;
        Ok(Some(Fragment {
            offset,
            decode_time: info.base_decode_time,
            samples,
            bytes,
        }))
    }

    /// Moves to the fragment holding the last keyframe whose decode time (from the segment's
    /// start) is at most `at`, or the first keyframe if none is; returns that keyframe's index
    /// in its fragment, or `None` when no whole fragment holds a keyframe. Reads the fragments
    /// up to there one at a time.
    pub fn seek_keyframe(&mut self, at: u64) -> io::Result<Option<usize>> {
        let start = self.pos;
        let mut best: Option<(u64, usize)> = None;
        while let Some(fragment) = self.next_fragment()? {
            let mut passed = false;
            for (i, sample) in fragment.samples.iter().enumerate() {
                if !sample.is_keyframe {
                    continue;
                }
                if fragment.decode_time_of(i) <= at || best.is_none() {
                    best = Some((fragment.offset, i));
                }
                if fragment.decode_time_of(i) > at {
                    passed = true;
                    break;
                }
            }
            if passed {
                break;
            }
        }
        match best {
            Some((offset, i)) => {
                self.pos = offset;
                Ok(Some(i))
            }
            None => {
                self.pos = start;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{init_segment, media_segment, SampleInfo};
    use std::io::Write;

    /// A one-frame fragment of 0.2 s at decode time `i` × 0.2 s.
    fn fragment(i: u32, keyframe: bool) -> Vec<u8> {
        let info = SampleInfo {
            decode_time: u64::from(i) * 18_000,
            duration: 18_000,
            is_keyframe: keyframe,
        };
        media_segment(i + 1, &info, None, &[0, 0, 0, 2, 0x65, i as u8]).unwrap()
    }

    #[test]
    fn whole_fragments_only_and_those_written_later_too() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.mp4");
        let mut file = File::create(&path).unwrap();
        file.write_all(&init_segment(&super::super::testing::params()))
            .unwrap();
        file.write_all(&fragment(0, true)).unwrap();
        file.write_all(&fragment(1, false)).unwrap();
        // The third is half written.
        let third = fragment(2, true);
        file.write_all(&third[..third.len() / 2]).unwrap();
        file.flush().unwrap();

        let mut reader = FragmentReader::open(&path).unwrap();
        assert_eq!(reader.init().codec, "avc1.42C01E");
        assert_eq!(&reader.init_bytes()[4..8], b"ftyp");
        let a = reader.next_fragment().unwrap().unwrap();
        assert_eq!((a.decode_time, a.samples.len()), (0, 1));
        assert!(a.samples[0].is_keyframe);
        assert_eq!(&a.bytes[a.samples[0].range.clone()], &[0, 0, 0, 2, 0x65, 0]);
        let b = reader.next_fragment().unwrap().unwrap();
        assert_eq!(b.decode_time, 18_000);
        assert!(!b.samples[0].is_keyframe);
        assert_eq!(reader.next_fragment().unwrap(), None, "the torn one waits");
        assert_eq!(reader.next_fragment().unwrap(), None);

        // The writer finishes it and writes one more: both come.
        file.write_all(&third[third.len() / 2..]).unwrap();
        file.write_all(&fragment(3, false)).unwrap();
        file.flush().unwrap();
        let c = reader.next_fragment().unwrap().unwrap();
        assert_eq!(c.decode_time, 36_000);
        assert_eq!(&c.bytes[c.samples[0].range.clone()], &[0, 0, 0, 2, 0x65, 2]);
        assert_eq!(reader.next_fragment().unwrap().unwrap().decode_time, 54_000);
        assert_eq!(reader.next_fragment().unwrap(), None);

        // The last keyframe at or before 0.7 s is the one at 0.4 s; before all, the first.
        reader.seek(0);
        assert_eq!(reader.seek_keyframe(63_000).unwrap(), Some(0));
        assert_eq!(reader.next_fragment().unwrap().unwrap().decode_time, 36_000);
        reader.seek(0);
        assert_eq!(reader.seek_keyframe(10).unwrap(), Some(0));
        assert_eq!(reader.next_fragment().unwrap().unwrap().decode_time, 0);
        reader.seek(c.offset);
        assert_eq!(reader.seek_keyframe(0).unwrap(), Some(0));
        assert_eq!(reader.position(), c.offset);
    }
}
