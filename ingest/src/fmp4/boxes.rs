//! A tiny helper for writing ISO BMFF boxes into a `Vec<u8>`.
//!
//! Box sizes are 32-bit. Callers keep every box well under 4 GiB: decoder
//! configuration records are limited to [`super::MAX_CONFIG_LEN`] and frames
//! larger than a 32-bit sample size are rejected before writing.

/// Big-endian writes onto a byte vector.
pub(crate) trait Put {
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_zeros(&mut self, n: usize);
}

impl Put for Vec<u8> {
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

/// Appends a box of type `kind` whose payload `body` writes, then fills in its size.
pub(crate) fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.put_u32(0);
    out.extend_from_slice(kind);
    body(out);
    let size = out.len() - start;
    debug_assert!(u32::try_from(size).is_ok(), "box larger than 4 GiB");
    let size = u32::try_from(size).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box (box with version and 24-bit flags).
pub(crate) fn write_full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(out, kind, |out| {
        out.put_u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        body(out);
    });
}

/// The unity transformation matrix of `mvhd`/`tkhd`.
pub(crate) fn put_unity_matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        out.put_u32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes() {
        let mut out = Vec::new();
        write_box(&mut out, b"moof", |out| {
            write_full_box(out, b"mfhd", 0, 0, |out| out.put_u32(7));
            write_box(out, b"free", |_| {});
        });
        assert_eq!(out.len(), 8 + 16 + 8);
        assert_eq!(&out[0..8], &[0, 0, 0, 32, b'm', b'o', b'o', b'f']);
        assert_eq!(
            &out[8..24],
            &[0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7]
        );
        assert_eq!(&out[24..], &[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    }

    #[test]
    fn full_box_flags_are_24_bit() {
        let mut out = Vec::new();
        write_full_box(&mut out, b"tfhd", 1, 0xFF02_0000, |_| {});
        assert_eq!(&out[8..12], &[1, 2, 0, 0]);
    }
}
