//! Writing a segment file around the page cache (`O_DIRECT`), when `[recording] direct_io`
//! asks for it and the file system can.
//!
//! # Why
//!
//! Through the page cache, every byte of video is copied into a page the kernel must first
//! find and later write back, and the recorder then has the synced pages dropped
//! ([`super::segment`]'s `drop_cached`): on the machine the benchmark runs on that kernel work
//! costs more CPU than anything else recording does but the SHA-256. Written directly, the
//! disk reads the recorder's own buffer; the kernel copies nothing and keeps nothing.
//!
//! # Why not always
//!
//! A direct write returns once the disk has the data, so the directory's writer thread waits
//! for the disk at every fragment, and the kernel can no longer gather and order many
//! streams' writes. An SSD does not mind; a spinning disk recording many cameras might fall
//! behind (frames dropped, counted). So it is a setting, off by default.
//!
//! # How
//!
//! Direct I/O moves whole blocks from an aligned buffer to aligned offsets. A fragment rarely
//! ends on a block boundary, so each write starts at the block holding the file's end: the
//! bytes already in that block (the *tail*, kept in front of the buffer) are written again,
//! then the fragment, then zeros up to the block's end. The file is thus up to a block longer
//! than its content until the segment is finished and cut to its length; a crash in between
//! leaves zeros after the last whole fragment, which start-up repair cuts as a torn write.
//! What was written is on the disk when the write returns; the periodic `fdatasync` still
//! makes the file's size durable.

use std::alloc::{self, Layout};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// The unit of direct I/O: offsets, lengths and the buffer's address are multiples of it.
/// 4 KiB suits every disk (512-byte sectors and 4K ones).
pub(crate) const BLOCK: usize = 4096;

/// A file opened for direct writes, with the buffer they go through.
pub(crate) struct DirectWriter {
    buf: AlignedBuf,
    /// Bytes at the start of `buf`: the content of the file's last, partial block.
    tail: usize,
}

impl DirectWriter {
    /// Turns direct I/O on for `file` (empty, just created). `None` when its file system does
    /// not do direct I/O (tmpfs, some network ones): it is then written through the cache.
    pub(crate) fn enable(file: &File) -> Option<DirectWriter> {
        let fd = file.as_raw_fd();
        // SAFETY: plain system calls on a descriptor `file` owns; no pointers.
        let ok = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) == 0
        };
        ok.then(|| DirectWriter {
            buf: AlignedBuf::with_capacity(1 << 20),
            tail: 0,
        })
    }

    /// Writes `parts` at `end`, the end of the file's content (a multiple of [`BLOCK`] plus
    /// the tail). On failure the tail is as it was, so the caller may cut the file back to
    /// `end` and go on.
    pub(crate) fn append(&mut self, file: &File, end: u64, parts: &[&[u8]]) -> io::Result<()> {
        debug_assert_eq!(end % BLOCK as u64, self.tail as u64);
        let start = end - self.tail as u64;
        let len = self.tail + parts.iter().map(|p| p.len()).sum::<usize>();
        let padded = len.next_multiple_of(BLOCK);
        self.buf.reserve(padded, self.tail);
        let buf = self.buf.as_mut_slice(padded);
        let mut at = self.tail;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        buf[len..].fill(0);
        let mut done = 0;
        while done < padded {
            // Whole blocks from an aligned address to an aligned offset, or the kernel refuses.
            match file.write_at(&buf[done..padded], start + done as u64) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if n % BLOCK != 0 => {
                    return Err(io::Error::other(format!(
                        "a direct write took {n} bytes, not whole blocks"
                    )))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let tail = len % BLOCK;
        buf.copy_within(len - tail..len, 0);
        self.tail = tail;
        Ok(())
    }
}

/// A zeroed buffer whose address is a multiple of [`BLOCK`], as direct I/O needs.
struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    cap: usize,
}

// SAFETY: it owns its allocation, like a `Vec<u8>`.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn layout(cap: usize) -> Layout {
        Layout::from_size_align(cap, BLOCK).expect("a buffer size below isize::MAX")
    }

    fn with_capacity(cap: usize) -> Self {
        let cap = cap.max(BLOCK).next_multiple_of(BLOCK);
        // SAFETY: the layout's size is not zero.
        let ptr = unsafe { alloc::alloc_zeroed(Self::layout(cap)) };
        let ptr = std::ptr::NonNull::new(ptr)
            .unwrap_or_else(|| alloc::handle_alloc_error(Self::layout(cap)));
        AlignedBuf { ptr, cap }
    }

    /// Makes room for `len` bytes, keeping the first `keep`.
    fn reserve(&mut self, len: usize, keep: usize) {
        if len <= self.cap {
            return;
        }
        let mut bigger = AlignedBuf::with_capacity(len.max(self.cap * 2));
        bigger
            .as_mut_slice(keep)
            .copy_from_slice(&self.as_mut_slice(keep)[..]);
        *self = bigger;
    }

    fn as_mut_slice(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.cap);
        // SAFETY: `cap` bytes were allocated (zeroed, so initialised) and are ours.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_capacity` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.cap)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Fragments of awkward sizes appended directly read back as written, once the file is
    /// cut to its content; before that, only zeros follow it. (Skipped where the temporary
    /// directory's file system does not do direct I/O.)
    #[test]
    fn appended_parts_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.mp4");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let Some(mut w) = DirectWriter::enable(&file) else {
            eprintln!("skipped: no direct I/O on {}", dir.path().display());
            return;
        };
        let mut expected = Vec::new();
        let mut end = 0u64;
        for (i, size) in [700usize, 1, 4095, 4096, 9000, 3_000_000, 13]
            .into_iter()
            .enumerate()
        {
            let a: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            let b = vec![i as u8 + 1; 17];
            w.append(&file, end, &[&a, &b]).unwrap();
            expected.extend_from_slice(&a);
            expected.extend_from_slice(&b);
            end = expected.len() as u64;
            let on_disk = std::fs::read(&path).unwrap();
            assert_eq!(on_disk.len() as u64, end.next_multiple_of(BLOCK as u64));
            assert_eq!(&on_disk[..expected.len()], &expected[..]);
            assert!(on_disk[expected.len()..].iter().all(|&x| x == 0));
        }
        file.set_len(end).unwrap();
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn the_buffer_is_aligned_and_keeps_its_tail_when_it_grows() {
        let mut buf = AlignedBuf::with_capacity(10);
        assert_eq!(buf.ptr.as_ptr() as usize % BLOCK, 0);
        buf.as_mut_slice(3).copy_from_slice(b"abc");
        buf.reserve(5 * BLOCK + 1, 3);
        assert!(buf.cap > 5 * BLOCK);
        assert_eq!(buf.ptr.as_ptr() as usize % BLOCK, 0);
        assert_eq!(buf.as_mut_slice(3), b"abc");
    }
}
