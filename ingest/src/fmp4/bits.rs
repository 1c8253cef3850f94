//! Bit-level reading and writing of H.264/H.265 RBSP (raw byte sequence payload): what
//! parameter sets and slice headers are made of, once the emulation prevention bytes that
//! keep start codes out of NAL units are removed.
//!
//! Every read is checked: running off the end is an error, never a panic, whatever the bytes.

/// The RBSP of a NAL unit payload: every `00 00 03` becomes `00 00`.
pub fn unescape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The RBSP of a NAL unit payload, byte by byte, without allocating.
pub(crate) fn rbsp_bytes(payload: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut zeros = 0;
    payload.iter().copied().filter(move |&b| {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            return false;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        true
    })
}

/// A NAL unit payload for an RBSP: an emulation prevention byte `03` after every `00 00`
/// that is followed by a byte up to `03` (or ends the payload).
pub fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    if zeros >= 2 {
        out.push(3);
    }
    out
}

/// Ran off the end of the data, or read an Exp-Golomb code longer than 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBits;

/// Reads bits, most significant first.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Bit position from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bit(&mut self) -> Result<bool, OutOfBits> {
        let byte = self.data.get(self.pos / 8).ok_or(OutOfBits)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `u(n)`, n up to 32.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, OutOfBits> {
        debug_assert!(n <= 32);
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Ok(v)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), OutOfBits> {
        let end = self.pos.checked_add(n).ok_or(OutOfBits)?;
        if end > self.data.len() * 8 {
            return Err(OutOfBits);
        }
        self.pos = end;
        Ok(())
    }

    /// `ue(v)`: unsigned Exp-Golomb.
    pub(crate) fn ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits);
            }
        }
        let rest = self.bits(zeros)?;
        // 2^zeros - 1 + rest fits: zeros <= 31 and rest < 2^zeros.
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)`: signed Exp-Golomb.
    pub(crate) fn se(&mut self) -> Result<i32, OutOfBits> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Writes bits, most significant first.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    out: Vec<u8>,
    /// Bits used in the last byte of `out` (0 when it is full or there is none).
    used: u32,
}

impl BitWriter {
    pub(crate) fn bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.out.push(0);
        }
        if bit {
            let last = self.out.len() - 1;
            self.out[last] |= 1 << (7 - self.used);
        }
        self.used = (self.used + 1) % 8;
    }

    /// `u(n)`, n up to 32.
    pub(crate) fn bits(&mut self, n: u32, value: u32) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    /// `ue(v)`.
    pub(crate) fn ue(&mut self, value: u32) {
        let v = u64::from(value) + 1;
        let len = 64 - v.leading_zeros(); // bits of v, 1..=33
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    /// Copies bits `from..to` of `data`.
    pub(crate) fn copy(&mut self, data: &[u8], from: usize, to: usize) {
        let mut r = BitReader::new(data);
        if r.skip(from).is_err() {
            return;
        }
        for _ in from..to {
            match r.bit() {
                Ok(b) => self.bit(b),
                Err(OutOfBits) => return,
            }
        }
    }

    /// `rbsp_trailing_bits()`: a one, then zeros to the byte boundary; returns the bytes.
    pub(crate) fn finish_rbsp(mut self) -> Vec<u8> {
        self.bit(true);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_round_trips() {
        let values = [0u32, 1, 2, 3, 7, 8, 255, 65_535, u32::MAX - 1];
        let mut w = BitWriter::default();
        for &v in &values {
            w.ue(v);
        }
        let signed = [0i32, 1, -1, 2, -2, 1000, -1000];
        for &v in &signed {
            let k = if v > 0 { 2 * v - 1 } else { -2 * v };
            w.ue(k as u32);
        }
        let bytes = w.finish_rbsp();
        let mut r = BitReader::new(&bytes);
        for &v in &values {
            assert_eq!(r.ue(), Ok(v));
        }
        for &v in &signed {
            assert_eq!(r.se(), Ok(v));
        }
        assert_eq!(r.bit(), Ok(true), "the trailing one");
    }

    #[test]
    fn known_codes() {
        // ue: 0 -> 1, 1 -> 010, 2 -> 011, 3 -> 00100.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Ok(0), Ok(1), Ok(2), Ok(3))
        );
        assert_eq!(r.position(), 12);
    }

    #[test]
    fn running_out_is_an_error() {
        let mut r = BitReader::new(&[0]);
        assert_eq!(r.ue(), Err(OutOfBits));
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert_eq!(r.ue(), Err(OutOfBits), "over 31 leading zeros");
        let mut r = BitReader::new(&[0xFF]);
        assert_eq!(r.bits(8), Ok(0xFF));
        assert_eq!(r.bit(), Err(OutOfBits));
        assert_eq!(r.skip(1), Err(OutOfBits));
    }

    #[test]
    fn escaping_round_trips() {
        let cases: &[&[u8]] = &[
            &[0, 0, 0],
            &[0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4],
            &[1, 0, 0],
            &[0, 0],
            &[],
        ];
        for &rbsp in cases {
            let escaped = escape(rbsp);
            assert!(
                !escaped
                    .windows(3)
                    .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2),
                "{escaped:?}"
            );
            assert_eq!(unescape(&escaped), rbsp);
            assert_eq!(rbsp_bytes(&escaped).collect::<Vec<_>>(), rbsp);
        }
        assert_eq!(escape(&[0, 0, 1]), [0, 0, 3, 1]);
        assert_eq!(escape(&[0, 0, 4]), [0, 0, 4]);
    }

    #[test]
    fn copy_takes_a_bit_range() {
        let mut w = BitWriter::default();
        w.copy(&[0b1011_0011, 0b1100_0000], 2, 10);
        assert_eq!(w.finish_rbsp(), [0b1100_1111, 0b1000_0000]);
    }
}
