//! RTP packets rewritten the way cameras in retina's issue tracker send them, all legal to
//! decode but off the RFCs' path: small NAL units wrapped in a fragmentation unit with both
//! the start and end bits set (retina#131, OpenIPC cameras), zero-length fragments (retina#115),
//! and the FU-A header's reserved bit set (retina#109, HeroSpeed firmware). The sequence
//! numbers of the packets that follow an inserted one move up, as a camera's would.

use gridwatch_ingest::fmp4::VideoCodec;

/// Rewrites one stream's packets.
#[derive(Debug)]
pub struct QuirkyCamera {
    codec: VideoCodec,
    /// Packets inserted so far: what later sequence numbers move up by.
    inserted: u16,
    /// Single NAL unit packets seen (every other one is wrapped).
    singles: u64,
}

/// Where the payload starts in an RTP packet (no header extension: gst-rtsp-server sends none).
fn payload_at(packet: &[u8]) -> usize {
    12 + 4 * usize::from(packet[0] & 0x0F)
}

impl QuirkyCamera {
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            inserted: 0,
            singles: 0,
        }
    }

    /// The packets to send for `packet`.
    pub fn mangle(&mut self, packet: &[u8]) -> Vec<Vec<u8>> {
        let at = payload_at(packet);
        if packet.len() < at + 3 {
            return vec![self.renumbered(packet.to_vec(), 0)];
        }
        let (header, payload) = packet.split_at(at);
        let mut out = Vec::new();
        match self.codec {
            VideoCodec::H264 => match payload[0] & 0x1F {
                1..=23 => {
                    self.singles += 1;
                    if self.singles.is_multiple_of(2) {
                        // FU-A with S and E set around the whole NAL unit.
                        let fu = [(payload[0] & 0xE0) | 28, 0xC0 | (payload[0] & 0x1F)];
                        out.push([header, &fu, &payload[1..]].concat());
                    } else {
                        out.push(packet.to_vec());
                    }
                }
                28 if payload[1] & 0x80 != 0 && payload[1] & 0x40 == 0 => {
                    // After a start fragment, an empty one with the reserved bit set.
                    out.push(packet.to_vec());
                    let empty = [payload[0], (payload[1] & 0x1F) | 0x20];
                    out.push([&header_without_mark(header), &empty[..]].concat());
                }
                28 => {
                    let mut p = packet.to_vec();
                    p[at + 1] |= 0x20; // reserved bit
                    out.push(p);
                }
                _ => out.push(packet.to_vec()),
            },
            VideoCodec::H265 => match (payload[0] >> 1) & 0x3F {
                0..=47 => {
                    self.singles += 1;
                    if self.singles.is_multiple_of(2) {
                        // FU (type 49) with S and E set around the whole NAL unit.
                        let fu = [
                            (payload[0] & 0x81) | (49 << 1),
                            payload[1],
                            0xC0 | ((payload[0] >> 1) & 0x3F),
                        ];
                        out.push([header, &fu, &payload[2..]].concat());
                    } else {
                        out.push(packet.to_vec());
                    }
                }
                49 if payload[2] & 0x80 != 0 && payload[2] & 0x40 == 0 => {
                    out.push(packet.to_vec());
                    let empty = [payload[0], payload[1], payload[2] & 0x3F];
                    out.push([&header_without_mark(header), &empty[..]].concat());
                }
                _ => out.push(packet.to_vec()),
            },
        }
        let mut renumbered = Vec::with_capacity(out.len());
        for (i, p) in out.into_iter().enumerate() {
            renumbered.push(self.renumbered(p, i));
            if i > 0 {
                self.inserted = self.inserted.wrapping_add(1);
            }
        }
        renumbered
    }

    /// `packet` with its sequence number moved up by the packets inserted before it, plus
    /// `extra` for the `extra`th packet made from one.
    fn renumbered(&self, mut packet: Vec<u8>, extra: usize) -> Vec<u8> {
        let seq = u16::from_be_bytes([packet[2], packet[3]])
            .wrapping_add(self.inserted)
            .wrapping_add(extra as u16);
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet
    }
}

fn header_without_mark(header: &[u8]) -> Vec<u8> {
    let mut h = header.to_vec();
    h[1] &= 0x7F;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, mark: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, if mark { 0xE0 } else { 0x60 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn h264_quirks() {
        let mut q = QuirkyCamera::new(VideoCodec::H264);
        assert_eq!(
            q.mangle(&rtp(10, true, &[0x41, 1, 2])),
            [rtp(10, true, &[0x41, 1, 2])]
        );
        // The second single NAL unit: a FU-A with S and E.
        assert_eq!(
            q.mangle(&rtp(11, true, &[0x41, 3, 4])),
            [rtp(11, true, &[0x5C, 0xC1, 3, 4])]
        );
        // A start fragment, then an empty fragment with the reserved bit: one packet more.
        assert_eq!(
            q.mangle(&rtp(12, false, &[0x7C, 0x85, 5])),
            [
                rtp(12, false, &[0x7C, 0x85, 5]),
                rtp(13, false, &[0x7C, 0x25])
            ]
        );
        // The end fragment moves up by one and gets the reserved bit.
        assert_eq!(
            q.mangle(&rtp(13, true, &[0x7C, 0x45, 6])),
            [rtp(14, true, &[0x7C, 0x65, 6])]
        );
    }

    #[test]
    fn h265_quirks() {
        let mut q = QuirkyCamera::new(VideoCodec::H265);
        q.mangle(&rtp(1, true, &[0x02, 0x01, 9]));
        assert_eq!(
            q.mangle(&rtp(2, true, &[0x02, 0x01, 8])),
            [rtp(2, true, &[49 << 1, 0x01, 0xC1, 8])]
        );
        assert_eq!(
            q.mangle(&rtp(3, false, &[49 << 1, 0x01, 0x93, 7])),
            [
                rtp(3, false, &[49 << 1, 0x01, 0x93, 7]),
                rtp(4, false, &[49 << 1, 0x01, 0x13])
            ]
        );
        assert_eq!(
            q.mangle(&rtp(4, true, &[49 << 1, 0x01, 0x53, 6])),
            [rtp(5, true, &[49 << 1, 0x01, 0x53, 6])]
        );
    }
}
