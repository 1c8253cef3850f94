//! Fuzzes `gridwatch_ingest::fmp4`: arbitrary parameters, frames and
//! timestamps must never panic, and whatever is produced must be well-formed
//! (box sizes adding up, read back by `fmp4::inspect`), with strictly
//! increasing decode times, the frame bytes where `trun` points and the
//! arrival in the `prft`. Frames also go through `fmp4::classify`, and
//! parameters through the SPS rewrite (`without_reordering`), whose record
//! must still be a valid one with the same codec string.
//!
//! Run from `ingest/`: `cargo +nightly fuzz run fmp4_writer`.
//!
//! Input layout (everything optional; missing bytes read as zero):
//! `[flags] [config len: u16] [config] [width: u32] [height: u32]
//!  [default duration: u32] [max frame duration: u32] [max forward jump: u32]`
//! then frames: `[frame flags] [timestamp: u32 or i64] [len: u16] [data]`.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use gridwatch_ingest::fmp4::{
    classify, init_segment, inspect, ntp_timestamp, unwrap_rtp32, FragmentWriter, Frame,
    TimelineConfig, VideoCodec, VideoParams, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS,
};
use libfuzzer_sys::fuzz_target;

/// A known-good Baseline 3.0 `avcC` (x264 SPS/PPS), so frames get fuzzed deeply.
const AVCC: &[u8] = &[
    0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0x00, 0x18, 0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x3D,
    0xB0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0F, 0x16, 0x2E, 0x48,
    0x01, 0x00, 0x05, 0x68, 0xCB, 0x83, 0xCB, 0x20,
];

/// A minimal well-formed `hvcC` (Main, level 3.1; SPS and PPS headers only).
const HVCC: &[u8] = &[
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5D, 0xF0, 0x00, 0xFC,
    0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F, 0x02, 0xA1, 0x00, 0x01, 0x00, 0x02, 0x42, 0x01, 0xA2, 0x00,
    0x01, 0x00, 0x02, 0x44, 0x01,
];

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let b = self.take(N);
        a[..b.len()].copy_from_slice(b);
        a
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.array())
    }
}

fn params(h265: bool, width: u32, height: u32, config: &[u8]) -> Option<VideoParams> {
    let result = if h265 {
        VideoParams::h265(width, height, config)
    } else {
        VideoParams::h264(width, height, config)
    };
    match result {
        Ok(p) => {
            let init = init_segment(&p);
            let info = inspect::parse_init_segment(&init).expect("init segment well-formed");
            assert_eq!(info.decoder_config, p.decoder_config());
            assert_eq!((info.width, info.height), (p.width(), p.height()));
            assert!(!p.rfc6381_codec().is_empty());
            if let Some(rewritten) = p.without_reordering() {
                let again = VideoParams::h264(width, height, rewritten.decoder_config().to_vec())
                    .expect("the rewritten record is valid");
                assert_eq!(again.rfc6381_codec(), p.rfc6381_codec());
                assert!(again.without_reordering().is_none(), "rewritten once for all");
            }
            Some(p)
        }
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.u8();
    let h265 = flags & 1 != 0;
    let config_len = usize::from(input.u16());
    let raw_config = input.take(config_len);
    let config = match (flags & 2 != 0, h265) {
        (true, false) => AVCC,
        (true, true) => HVCC,
        (false, _) => raw_config,
    };
    let (width, height) = (input.u32(), input.u32());
    let Some(p) = params(h265, width, height, config) else {
        return;
    };
    let timeline = TimelineConfig {
        default_frame_duration: input.u32(),
        max_frame_duration: input.u32(),
        max_forward_jump: input.u32(),
    };
    let mut writer = FragmentWriter::new(p, timeline);
    let mut last_ts: Option<i64> = None;
    let mut last_decode: Option<u64> = None;

    while !input.0.is_empty() {
        let frame_flags = input.u8();
        if frame_flags & 2 != 0 {
            // New parameters: the other built-in record, or fuzzed dimensions.
            let (w, h) = (u32::from(input.u16()), u32::from(input.u16()));
            let config = if frame_flags & 8 != 0 { HVCC } else { AVCC };
            if let Some(p) = params(frame_flags & 8 != 0, w, h, config) {
                let same = *writer.params() == p;
                assert_eq!(writer.set_params(p), !same);
            }
        }
        let timestamp = if frame_flags & 4 != 0 {
            unwrap_rtp32(last_ts, input.u32())
        } else {
            input.i64()
        };
        let len = usize::from(input.u16());
        let frame_data = input.take(len);
        let arrival = (frame_flags & 16 != 0)
            .then(|| UNIX_EPOCH + Duration::from_millis(timestamp.unsigned_abs() >> 8));
        let frame = Frame {
            data: frame_data,
            timestamp,
            is_keyframe: frame_flags & 1 != 0,
            arrival,
        };
        let codec = writer.params().codec();
        let _ = classify(codec, frame_data);
        let _ = classify(
            if codec == VideoCodec::H264 {
                VideoCodec::H265
            } else {
                VideoCodec::H264
            },
            frame_data,
        );
        let seq = writer.next_sequence_number();
        match writer.write(&frame) {
            Ok(seg) => {
                last_ts = Some(timestamp);
                let info = inspect::parse_media_segment(&seg.data).expect("segment well-formed");
                let top = inspect::read_boxes(&seg.data).expect("boxes");
                assert_eq!(top.iter().map(|b| b.size()).sum::<usize>(), seg.data.len());
                assert_eq!(info.sequence_number, seq);
                assert_eq!(seg.sequence_number, seq);
                assert_eq!(info.sample_ranges.len(), 1);
                assert_eq!(info.mdat_payload, info.sample_ranges[0]);
                assert_eq!(&seg.data[info.sample_ranges[0].clone()], frame_data);
                assert_eq!(info.base_decode_time, seg.sample.decode_time);
                assert_eq!(info.samples[0].duration, Some(seg.sample.duration));
                assert!(seg.sample.duration >= 1);
                let expected_flags = if frame.is_keyframe {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                };
                assert_eq!(info.samples[0].flags, Some(expected_flags));
                assert_eq!(
                    info.producer_time.map(|p| (p.ntp_timestamp, p.media_time)),
                    arrival.map(|a| (ntp_timestamp(a), seg.sample.decode_time))
                );
                if let Some(last) = last_decode {
                    assert!(info.base_decode_time > last, "decode time went backwards");
                }
                last_decode = Some(info.base_decode_time);
            }
            Err(e) => {
                let _ = e.to_string();
                assert_eq!(writer.next_sequence_number(), seq);
                assert_eq!(writer.timeline().last_decode_time(), last_decode);
            }
        }
    }
});
