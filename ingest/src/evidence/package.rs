//! An incident's evidence as one file to hand over: a ZIP archive of its clips, their
//! manifests, a `SHA256SUMS` list and a note on how to check them.
//!
//! Stored, not compressed: the clips are H.264/H.265 already, and a stored archive's layout
//! is known before a byte is sent, so its length is too (`Content-Length`: a download cut
//! short is seen to be). Names are UTF-8 (general purpose bit 11). No ZIP64: a package is
//! refused above 4 GiB or 65,534 files ([`PackageError::TooLarge`]); the clips can then be
//! downloaded one by one.
//!
//! Each entry's CRC-32 is computed when the package is laid out ([`Package::add_file`] reads
//! the file once, with its SHA-256 for the caller to check against the record), so that the
//! local headers carry it and no data descriptors are needed: any unzip reads the archive.
//! The file is read again to be sent, and its CRC-32 and length checked again as it goes: a
//! file changed in between fails the write (the answer is cut short, never a wrong archive
//! that looks whole).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The CRC-32 of ZIP (ISO-HDLC, as zlib's `crc32`).
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
/// Version needed to extract a stored file: 2.0.
const VERSION: u16 = 20;
/// General purpose flags: bit 11, names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{what} is larger than a ZIP archive without ZIP64 holds (4 GiB, 65,535 files)")]
    TooLarge { what: String },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} changed while the package was sent (was {was} bytes)")]
    Changed { path: PathBuf, was: u64 },
    #[error("sending the package: {0}")]
    Write(io::Error),
}

/// Where an entry's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    len: u32,
    crc32: u32,
    /// Offset of its local header in the archive.
    offset: u32,
    source: Source,
}

/// An archive laid out: every entry's place and checksum, so its length is known.
#[derive(Debug, Clone)]
pub struct Package {
    entries: Vec<Entry>,
    /// Bytes of the local headers and data so far: where the next entry starts.
    next: u64,
    /// DOS date and time every entry carries.
    dos: (u16, u16),
}

/// What [`Package::add_file`] read of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub len: u64,
    pub sha256: String,
}

impl Package {
    /// An empty package whose entries are dated `at` (local time is not known: UTC).
    pub fn new(at: chrono::DateTime<chrono::Utc>) -> Package {
        Package {
            entries: Vec::new(),
            next: 0,
            dos: dos_date_time(at),
        }
    }

    /// Adds the file at `path` as `name`, reading it once for its CRC-32 and SHA-256 (what
    /// the caller checks against the record before it sends anything).
    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<Scanned, PackageError> {
        let read = |source| PackageError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(read)?;
        let mut crc = CRC32.digest();
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(read)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            sha.update(&buf[..n]);
            len += n as u64;
        }
        self.push(name, len, crc.finalize(), Source::File(path.to_path_buf()))?;
        Ok(Scanned {
            len,
            sha256: hex::encode(sha.finalize()),
        })
    }

    /// Adds `bytes` as `name`.
    pub fn add_bytes(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), PackageError> {
        let crc = CRC32.checksum(&bytes);
        self.push(name, bytes.len() as u64, crc, Source::Bytes(bytes))
    }

    fn push(
        &mut self,
        name: &str,
        len: u64,
        crc32: u32,
        source: Source,
    ) -> Result<(), PackageError> {
        let too_large = || PackageError::TooLarge {
            what: format!("the package with {name}"),
        };
        let offset = u32::try_from(self.next).map_err(|_| too_large())?;
        let len = u32::try_from(len).map_err(|_| too_large())?;
        // 0xFFFF entries is ZIP64's mark: one fewer at most.
        if self.entries.len() + 1 >= usize::from(u16::MAX) || name.len() > usize::from(u16::MAX) {
            return Err(too_large());
        }
        self.next += 30 + name.len() as u64 + u64::from(len);
        self.entries.push(Entry {
            name: name.to_string(),
            len,
            crc32,
            offset,
            source,
        });
        if self.len() > u64::from(u32::MAX) {
            return Err(too_large());
        }
        Ok(())
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        let central: u64 = self.entries.iter().map(|e| 46 + e.name.len() as u64).sum();
        self.next + central + 22
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the archive to `out`: each entry's local header and bytes, then the central
    /// directory. A file whose length is no longer the one laid out fails the write (the
    /// archive would lie about it).
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), PackageError> {
        let io_err = PackageError::Write;
        let (time, date) = self.dos;
        for e in &self.entries {
            let mut h = Vec::with_capacity(30 + e.name.len());
            h.extend(LOCAL_HEADER.to_le_bytes());
            h.extend(VERSION.to_le_bytes());
            h.extend(UTF8_NAMES.to_le_bytes());
            h.extend(0u16.to_le_bytes()); // stored
            h.extend(time.to_le_bytes());
            h.extend(date.to_le_bytes());
            h.extend(e.crc32.to_le_bytes());
            h.extend(e.len.to_le_bytes()); // compressed size
            h.extend(e.len.to_le_bytes());
            h.extend((e.name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra field
            h.extend(e.name.as_bytes());
            out.write_all(&h).map_err(io_err)?;
            match &e.source {
                Source::Bytes(b) => out.write_all(b).map_err(io_err)?,
                Source::File(path) => copy_unchanged(path, e, out)?,
            }
        }
        let mut central = Vec::new();
        for e in &self.entries {
            central.extend(CENTRAL_HEADER.to_le_bytes());
            central.extend(VERSION.to_le_bytes()); // made by
            central.extend(VERSION.to_le_bytes()); // needed
            central.extend(UTF8_NAMES.to_le_bytes());
            central.extend(0u16.to_le_bytes());
            central.extend(time.to_le_bytes());
            central.extend(date.to_le_bytes());
            central.extend(e.crc32.to_le_bytes());
            central.extend(e.len.to_le_bytes());
            central.extend(e.len.to_le_bytes());
            central.extend((e.name.len() as u16).to_le_bytes());
            central.extend([0u8; 12]); // extra, comment, disk, internal and external attributes
            central.extend(e.offset.to_le_bytes());
            central.extend(e.name.as_bytes());
        }
        let count = self.entries.len() as u16;
        let size = central.len() as u32;
        central.extend(END_OF_CENTRAL.to_le_bytes());
        central.extend([0u8; 4]); // this disk, the central directory's disk
        central.extend(count.to_le_bytes());
        central.extend(count.to_le_bytes());
        central.extend(size.to_le_bytes());
        central.extend((self.next as u32).to_le_bytes());
        central.extend(0u16.to_le_bytes()); // comment
        out.write_all(&central).map_err(io_err)
    }
}

/// Copies the file at `path` into `out` as it was laid out as `entry`: exactly its length,
/// and the same CRC-32; a file changed since (shorter, longer, or edited in place) fails.
fn copy_unchanged(path: &Path, entry: &Entry, out: &mut impl Write) -> Result<(), PackageError> {
    let read = |source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    };
    let changed = || PackageError::Changed {
        path: path.to_path_buf(),
        was: u64::from(entry.len),
    };
    let mut file = File::open(path).map_err(read)?;
    let mut crc = CRC32.digest();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = u64::from(entry.len);
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(buf.len()));
        let n = file.read(&mut buf[..want]).map_err(read)?;
        if n == 0 {
            return Err(changed());
        }
        crc.update(&buf[..n]);
        left -= n as u64;
        // The last chunk is checked before it is sent: an edit shows in the CRC, and a file
        // that grew has a byte more.
        if left == 0 {
            let more = file.read(&mut [0u8]).map_err(read)?;
            if more != 0 || crc.clone().finalize() != entry.crc32 {
                return Err(changed());
            }
        }
        out.write_all(&buf[..n]).map_err(PackageError::Write)?;
    }
    Ok(())
}

/// MS-DOS time and date of `at` (two-second steps, years from 1980).
fn dos_date_time(at: chrono::DateTime<chrono::Utc>) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let year = (at.year().clamp(1980, 2107) - 1980) as u16;
    let date = (year << 9) | ((at.month() as u16) << 5) | at.day() as u16;
    let time = ((at.hour() as u16) << 11) | ((at.minute() as u16) << 5) | (at.second() as u16 / 2);
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn a_package_lays_out_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        std::fs::write(&clip, b"not really a clip").unwrap();
        let at = "2026-12-07T23:59:58Z".parse().unwrap();
        let mut p = Package::new(at);
        let scanned = p.add_file("clips/门口-1.mp4", &clip).unwrap();
        assert_eq!(scanned.len, 17);
        assert_eq!(
            scanned.sha256,
            crate::evidence::sha256(b"not really a clip")
        );
        p.add_bytes("SHA256SUMS", b"x\n".to_vec()).unwrap();
        let mut out = Vec::new();
        p.write_to(&mut out).unwrap();
        assert_eq!(out.len() as u64, p.len());
        // The first local header: stored, UTF-8 name, its CRC-32 (zlib's) and sizes.
        assert_eq!(u32_at(&out, 0), LOCAL_HEADER);
        assert_eq!(u16_at(&out, 6), UTF8_NAMES);
        assert_eq!(u16_at(&out, 8), 0);
        assert_eq!(u32_at(&out, 14), CRC32.checksum(b"not really a clip"));
        assert_eq!((u32_at(&out, 18), u32_at(&out, 22)), (17, 17));
        let name = "clips/门口-1.mp4";
        assert_eq!(&out[30..30 + name.len()], name.as_bytes());
        // The end of the central directory: two entries, where the directory is.
        let end = out.len() - 22;
        assert_eq!(u32_at(&out, end), END_OF_CENTRAL);
        assert_eq!((u16_at(&out, end + 8), u16_at(&out, end + 10)), (2, 2));
        let (size, offset) = (u32_at(&out, end + 12), u32_at(&out, end + 16));
        assert_eq!(offset as usize + size as usize, end);
        assert_eq!(u32_at(&out, offset as usize), CENTRAL_HEADER);
        // 23:59:58 on 2026-12-07.
        assert_eq!(
            dos_date_time(at),
            ((23 << 11) | (59 << 5) | 29, (46 << 9) | (12 << 5) | 7)
        );
    }

    #[test]
    fn a_file_changed_since_it_was_laid_out_fails_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        for changed in [
            vec![7u8; 10],
            vec![7u8; 101],
            [vec![7u8; 99], vec![8]].concat(),
        ] {
            std::fs::write(&clip, vec![7u8; 100]).unwrap();
            let mut p = Package::new(chrono::Utc::now());
            p.add_file("clip.mp4", &clip).unwrap();
            std::fs::write(&clip, &changed).unwrap();
            let mut out = Vec::new();
            let err = p.write_to(&mut out).unwrap_err();
            assert!(
                matches!(err, PackageError::Changed { was: 100, .. }),
                "{err}"
            );
            // The archive is cut short (never whole with wrong bytes): an edit or a growth is
            // seen before its last chunk goes out; a shrink where the file ends.
            assert!(
                out.len() < 30 + "clip.mp4".len() + 100,
                "{} bytes",
                out.len()
            );
        }
    }
}
