//! Writing a segment file around the page cache (`O_DIRECT`), when `[recording] direct_io`
//! asks for it and the file system can (one that cannot is written through the cache, as
//! without the setting, and the log says so once).
//!
//! # Why
//!
//! Through the page cache, every byte of video is copied into a page the kernel must first
//! find and later write back, and the recorder then has the synced pages dropped
//! ([`super::segment`]'s `drop_cached`). Written directly, the disk reads the recorder's own
//! buffer; the kernel copies nothing and keeps nothing. The recording benchmark measures both
//! (README: a tenth to a seventh less of what recording costs the hub).
//!
//! # Why not always
//!
//! A direct write returns once the disk has taken the data (into its own cache, until the
//! periodic `fdatasync`), so the directory's writer thread waits for the disk at every
//! fragment, and the kernel can no longer gather and order many streams' writes. An SSD does
//! not mind; a spinning disk recording many cameras might fall behind (frames dropped,
//! counted). So it is a setting, off by default.
//!
//! # How
//!
//! Direct I/O moves whole blocks from an aligned buffer to aligned offsets. A fragment rarely
//! ends on a block boundary, so each write starts at the block holding the file's end: the
//! bytes already in that block (the *tail*, kept by each open segment) are written again, then
//! the fragment, then zeros up to the block's end. The file is thus up to a block longer than
//! its content until the segment is finished and cut to its length; a crash in between leaves
//! zeros after the last whole fragment, which start-up repair cuts as a torn write. The
//! periodic `fdatasync` still makes the data and the file's size durable.
//!
//! One buffer per writer thread (one thread per directory), as large as the largest fragment.
//!
//! # A limit
//!
//! A fragment smaller than the zeros after the content lands inside the file's length as it
//! already was: a reader of the segment being written (playback of the last minute) that reads
//! those blocks while the disk is taking them could see part of it. Video fragments are far
//! larger than a block, so this takes a fragment of a few frames of a tiny stream.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// The unit of direct I/O: offsets, lengths and the buffer's address are multiples of it.
/// 4 KiB suits every disk (512-byte sectors and 4K ones).
pub(crate) const BLOCK: usize = 4096;

thread_local! {
    /// The writer thread's buffer: every segment it writes goes through it in turn.
    static BUFFER: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::with_capacity(1 << 20));
}

/// A file opened for direct writes.
pub(crate) struct DirectWriter {
    /// The content of the file's last, partial block: its first `len` bytes.
    tail: Box<[u8; BLOCK]>,
    len: usize,
}

impl DirectWriter {
    /// Turns direct I/O on for `file` (empty, just created). `None` when its file system does
    /// not do direct I/O (some network ones; tmpfs before Linux 6.6): it is then written
    /// through the cache.
    pub(crate) fn enable(file: &File) -> Option<DirectWriter> {
        set_direct(file, true).then(|| DirectWriter {
            tail: Box::new([0; BLOCK]),
            len: 0,
        })
    }

    /// Turns direct I/O off again, for a file system that took the flag but refuses the
    /// writes (`EINVAL`): the file is written through the cache from here on.
    pub(crate) fn disable(self, file: &File) {
        set_direct(file, false);
    }

    /// Writes `parts` at `end`, the end of the file's content (a multiple of [`BLOCK`] plus
    /// the tail). On failure the tail is as it was, so the caller may cut the file back to
    /// `end` and go on.
    pub(crate) fn append(&mut self, file: &File, end: u64, parts: &[&[u8]]) -> io::Result<()> {
        BUFFER.with_borrow_mut(|buf| self.append_through(buf, file, end, parts))
    }

    fn append_through(
        &mut self,
        buf: &mut AlignedBuf,
        file: &File,
        end: u64,
        parts: &[&[u8]],
    ) -> io::Result<()> {
        debug_assert_eq!(end % BLOCK as u64, self.len as u64);
        let start = end - self.len as u64;
        let len = self.len + parts.iter().map(|p| p.len()).sum::<usize>();
        let padded = len.next_multiple_of(BLOCK);
        buf.reserve(padded);
        let buf = buf.as_mut_slice(padded);
        buf[..self.len].copy_from_slice(&self.tail[..self.len]);
        let mut at = self.len;
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
        self.tail[..tail].copy_from_slice(&buf[len - tail..len]);
        self.len = tail;
        Ok(())
    }
}

/// Sets or clears `O_DIRECT` on `file`; whether the kernel took it.
fn set_direct(file: &File, on: bool) -> bool {
    let fd = file.as_raw_fd();
    // SAFETY: plain system calls on a descriptor `file` owns; no pointers.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        let flags = match on {
            true => flags | libc::O_DIRECT,
            false => flags & !libc::O_DIRECT,
        };
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags) == 0
    }
}

/// A zeroed buffer whose address is a multiple of [`BLOCK`], as direct I/O needs.
struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    cap: usize,
}

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

    /// Makes room for `len` bytes (what was in it is not kept).
    fn reserve(&mut self, len: usize) {
        if len > self.cap {
            *self = AlignedBuf::with_capacity(len.max(self.cap * 2));
        }
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

    fn create(dir: &std::path::Path, name: &str) -> (File, DirectWriter) {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .unwrap();
        let w = DirectWriter::enable(&file)
            .expect("this test needs a temporary directory on a file system that does direct I/O");
        (file, w)
    }

    /// Fragments of awkward sizes appended directly read back as written, once the file is
    /// cut to its content; before that, only zeros follow it.
    #[test]
    fn appended_parts_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.mp4");
        let (file, mut w) = create(dir.path(), "seg.mp4");
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

    /// Files written in turn through the thread's one buffer each keep their own tail.
    #[test]
    fn files_written_in_turn_keep_their_tails() {
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<(File, DirectWriter, Vec<u8>)> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (file, w) = create(dir.path(), name);
                (file, w, Vec::new())
            })
            .collect();
        for round in 0..5usize {
            for (n, (file, w, content)) in files.iter_mut().enumerate() {
                let part = vec![(round * 2 + n + 1) as u8; 1000 + 700 * round];
                w.append(file, content.len() as u64, &[&part]).unwrap();
                content.extend_from_slice(&part);
            }
        }
        for (name, (_, _, content)) in ["a", "b"].into_iter().zip(&files) {
            let on_disk = std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(&on_disk[..content.len()], &content[..], "{name}");
        }
    }

    #[test]
    fn the_buffer_is_aligned_and_grows_aligned() {
        let mut buf = AlignedBuf::with_capacity(10);
        assert_eq!(buf.ptr.as_ptr() as usize % BLOCK, 0);
        buf.reserve(5 * BLOCK + 1);
        assert!(buf.cap > 5 * BLOCK);
        assert_eq!(buf.ptr.as_ptr() as usize % BLOCK, 0);
    }
}
