//! Layout tests: the writer's output read back with [`super::inspect`].

use super::inspect::{parse_init_segment, parse_media_segment, read_boxes, BoxRef};
use super::params::tests::{avcc, real_hvcc, BASELINE_PPS, BASELINE_SPS};
use super::*;

fn h264_params() -> VideoParams {
    VideoParams::h264(640, 480, avcc(BASELINE_SPS, BASELINE_PPS)).unwrap()
}

/// NAL units with 4-byte length prefixes.
fn avcc_frame(nals: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for nal in nals {
        v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        v.extend_from_slice(nal);
    }
    v
}

const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
];

/// Walks containers recursively: children's sizes add up to each parent's payload.
fn check_sizes(boxes: &[BoxRef<'_>], kinds: &mut Vec<[u8; 4]>) {
    for b in boxes {
        kinds.push(b.kind);
        if CONTAINERS.contains(&&b.kind) {
            let children = b.children().unwrap();
            let sum: usize = children.iter().map(BoxRef::size).sum();
            assert_eq!(
                sum,
                b.payload.len(),
                "{:?}",
                String::from_utf8_lossy(&b.kind)
            );
            check_sizes(&children, kinds);
        }
    }
}

fn box_kinds(buf: &[u8]) -> Vec<String> {
    let top = read_boxes(buf).unwrap();
    assert_eq!(top.iter().map(BoxRef::size).sum::<usize>(), buf.len());
    let mut kinds = Vec::new();
    check_sizes(&top, &mut kinds);
    kinds
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[test]
fn init_segment_layout_h264() {
    let params = h264_params();
    let init = init_segment(&params);
    assert_eq!(
        box_kinds(&init),
        [
            "ftyp", "moov", "mvhd", "trak", "tkhd", "mdia", "mdhd", "hdlr", "minf", "vmhd", "dinf",
            "dref", "stbl", "stsd", "stts", "stsc", "stsz", "stco", "mvex", "trex"
        ]
    );
    assert_eq!(
        &init[..28],
        b"\0\0\0\x1cftypiso5\0\0\x02\0iso5iso6mp41".as_slice()
    );
    let info = parse_init_segment(&init).unwrap();
    assert_eq!(&info.major_brand, b"iso5");
    assert_eq!(info.compatible_brands, [*b"iso5", *b"iso6", *b"mp41"]);
    assert_eq!(
        (info.timescale, info.movie_timescale),
        (TIMESCALE, TIMESCALE)
    );
    assert_eq!((info.track_id, info.trex_track_id), (TRACK_ID, TRACK_ID));
    assert_eq!((info.track_width, info.track_height), (640, 480));
    assert_eq!((info.width, info.height), (640, 480));
    assert_eq!(&info.handler, b"vide");
    assert_eq!((&info.sample_entry, &info.config_box), (b"avc1", b"avcC"));
    assert_eq!(info.decoder_config, params.decoder_config());
}

#[test]
fn init_segment_layout_h265() {
    let params = VideoParams::h265(1280, 720, real_hvcc()).unwrap();
    let init = init_segment(&params);
    let info = parse_init_segment(&init).unwrap();
    assert_eq!((&info.sample_entry, &info.config_box), (b"hvc1", b"hvcC"));
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(info.decoder_config, real_hvcc());
    assert_eq!(box_kinds(&init).len(), 20);
}

#[test]
fn media_segment_layout() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::default());
    let frame = avcc_frame(&[&[0x06, 5, 1, 0x80], &[0x65, 0x88, 0x84, 0x00, 0x33]]);
    let seg = w
        .write(&Frame {
            data: &frame,
            timestamp: 77_000,
            is_keyframe: true,
            arrival: None,
        })
        .unwrap();
    assert_eq!(
        box_kinds(&seg.data),
        ["moof", "mfhd", "traf", "tfhd", "tfdt", "trun", "mdat"]
    );
    let top = read_boxes(&seg.data).unwrap();
    let (moof, mdat) = (top[0], top[1]);
    assert_eq!(moof.size() + mdat.size(), seg.data.len());
    assert_eq!(mdat.payload, &frame[..]);

    let info = parse_media_segment(&seg.data).unwrap();
    // data_offset counts from the moof start to the first byte of mdat payload.
    assert_eq!(info.data_offset as usize, moof.size() + 8);
    assert_eq!(info.data_offset as usize, mdat.payload_offset());
    assert_eq!(&seg.data[info.data_offset as usize..], &frame[..]);
    assert_eq!(info.sample_ranges.len(), 1);
    assert_eq!(info.sample_ranges[0], mdat.payload_offset()..seg.data.len());
    assert_eq!((info.sequence_number, info.track_id), (1, TRACK_ID));
    assert_eq!((info.tfdt_version, info.base_decode_time), (1, 0));
    assert_eq!(info.samples.len(), 1);
    assert_eq!(info.samples[0].duration, Some(3600));
    assert_eq!(info.samples[0].size, Some(frame.len() as u32));
    assert_eq!(info.samples[0].flags, Some(SYNC_SAMPLE_FLAGS));
    assert_eq!(seg.sequence_number, 1);
    assert_eq!(
        seg.sample,
        SampleInfo {
            decode_time: 0,
            duration: 3600,
            is_keyframe: true
        }
    );

    assert_eq!(info.producer_time, None);

    let p_frame = avcc_frame(&[&[0x41, 0x9A, 0x02]]);
    let seg2 = w
        .write(&Frame {
            data: &p_frame,
            timestamp: 80_000,
            is_keyframe: false,
            arrival: None,
        })
        .unwrap();
    let info2 = parse_media_segment(&seg2.data).unwrap();
    assert_eq!(info2.sequence_number, 2);
    assert_eq!(info2.base_decode_time, 3000);
    // The duration is the interval to the previous frame.
    assert_eq!(info2.samples[0].duration, Some(3000));
    assert_eq!(info2.samples[0].flags, Some(NON_SYNC_SAMPLE_FLAGS));
    assert_eq!(&seg2.data[info2.sample_ranges[0].clone()], &p_frame[..]);
    assert!(!seg2.rebased);
}

#[test]
fn media_segment_function_matches_writer() {
    let frame = avcc_frame(&[&[0x65, 1]]);
    let sample = SampleInfo {
        decode_time: u64::MAX - 1,
        duration: u32::MAX,
        is_keyframe: false,
    };
    let seg = media_segment(u32::MAX, &sample, None, &frame).unwrap();
    let info = parse_media_segment(&seg).unwrap();
    assert_eq!(info.sequence_number, u32::MAX);
    assert_eq!(info.base_decode_time, u64::MAX - 1);
    assert_eq!(info.samples[0].duration, Some(u32::MAX));
    assert_eq!(seg.len(), 100 + 8 + frame.len());
}

#[test]
fn durations_follow_previous_interval() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::for_frame_rate(30));
    let frame = avcc_frame(&[&[0x65, 1]]);
    let mut ts = 0i64;
    let mut got = Vec::new();
    for step in [0, 3600, 3600, 3000, 6000, 3000] {
        ts += step;
        let seg = w
            .write(&Frame {
                data: &frame,
                timestamp: ts,
                is_keyframe: false,
                arrival: None,
            })
            .unwrap();
        let info = parse_media_segment(&seg.data).unwrap();
        got.push((info.base_decode_time, info.samples[0].duration.unwrap()));
    }
    assert_eq!(
        got,
        [
            (0, 3000),
            (3600, 3600),
            (7200, 3600),
            (10_200, 3000),
            (16_200, 6000),
            (19_200, 3000)
        ]
    );
}

#[test]
fn tfdt_monotonic_across_rtp_wrap_and_jumps() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::default());
    let mut unwrapper = RtpTimestampUnwrapper::new();
    let frame = avcc_frame(&[&[0x65, 1, 2]]);
    let mut raw: u32 = u32::MAX - 20 * 3600;
    let mut last = None;
    let mut rebases = 0;
    for i in 0..200u32 {
        // A backwards clock jump at 60, a forward one of an hour at 120.
        match i {
            60 => raw = raw.wrapping_sub(500_000),
            120 => raw = raw.wrapping_add(3600 * 90_000),
            _ => raw = raw.wrapping_add(3600),
        }
        let seg = w
            .write(&Frame {
                data: &frame,
                timestamp: unwrapper.extend(raw),
                is_keyframe: i % 50 == 0,
                arrival: None,
            })
            .unwrap();
        let info = parse_media_segment(&seg.data).unwrap();
        assert_eq!(info.sequence_number, i + 1);
        assert_eq!(info.samples[0].duration, Some(3600));
        if let Some(last) = last {
            assert_eq!(info.base_decode_time, last + 3600, "frame {i}");
        }
        rebases += usize::from(seg.rebased);
        last = Some(info.base_decode_time);
    }
    assert_eq!(rebases, 2);
    assert_eq!(last, Some(199 * 3600));
}

#[test]
fn set_params_reports_changes() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::default());
    let frame = avcc_frame(&[&[0x65, 1]]);
    let write = |w: &mut FragmentWriter, ts| {
        w.write(&Frame {
            data: &frame,
            timestamp: ts,
            is_keyframe: true,
            arrival: None,
        })
        .unwrap()
    };
    write(&mut w, 0);
    assert!(!w.set_params(h264_params()));
    let mut other = avcc(BASELINE_SPS, BASELINE_PPS);
    *other.last_mut().unwrap() ^= 1; // a different PPS
    assert!(w.set_params(VideoParams::h264(640, 480, other.clone()).unwrap()));
    assert!(!w.set_params(VideoParams::h264(640, 480, other.clone()).unwrap()));
    let init = parse_init_segment(&w.init_segment()).unwrap();
    assert_eq!(init.decoder_config, other);
    assert!(w.set_params(VideoParams::h264(1280, 720, other).unwrap()));
    assert!(w.set_params(VideoParams::h265(1280, 720, real_hvcc()).unwrap()));
    assert_eq!(
        &parse_init_segment(&w.init_segment()).unwrap().sample_entry,
        b"hvc1"
    );
    // Decode time and sequence numbers continue.
    let seg = write(&mut w, 3600);
    assert_eq!((seg.sequence_number, seg.sample.decode_time), (2, 3600));
}

#[test]
fn malformed_frames_are_rejected_without_side_effects() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::default());
    let good = avcc_frame(&[&[0x65, 1]]);
    w.write(&Frame {
        data: &good,
        timestamp: 0,
        is_keyframe: true,
        arrival: None,
    })
    .unwrap();
    let bad: [(&[u8], Fmp4Error); 4] = [
        (&[], Fmp4Error::EmptyFrame),
        (&[0, 0, 0], Fmp4Error::MalformedFrame { offset: 0 }),
        (&[0, 0, 0, 2, 0x65], Fmp4Error::MalformedFrame { offset: 0 }),
        (
            &[0, 0, 0, 1, 0x65, 0xFF, 0xFF, 0xFF, 0xFF, 1],
            Fmp4Error::MalformedFrame { offset: 5 },
        ),
    ];
    for (data, err) in bad {
        let frame = Frame {
            data,
            timestamp: 3600,
            is_keyframe: false,
            arrival: None,
        };
        assert_eq!(w.write(&frame), Err(err));
    }
    assert_eq!(w.next_sequence_number(), 2);
    assert_eq!(w.timeline().last_decode_time(), Some(0));
    // A frame of only a zero-length NAL unit is structurally fine.
    assert!(media_segment(
        1,
        &SampleInfo {
            decode_time: 0,
            duration: 1,
            is_keyframe: false
        },
        None,
        &[0; 4]
    )
    .is_ok());
}

/// xorshift64* — deterministic pseudo-random numbers without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn random_params(rng: &mut XorShift) -> Result<VideoParams, Fmp4Error> {
    let h265 = rng.below(2) == 0;
    let mut config = match (rng.below(3), h265) {
        (0, _) => {
            let n = rng.below(64) as usize;
            rng.bytes(n)
        }
        (_, false) => avcc(BASELINE_SPS, BASELINE_PPS),
        (_, true) => real_hvcc(),
    };
    // Mutate: flip bytes, truncate or extend.
    for _ in 0..rng.below(3) {
        if config.is_empty() {
            break;
        }
        match rng.below(3) {
            0 => {
                let i = rng.below(config.len() as u64) as usize;
                config[i] ^= rng.next() as u8;
            }
            1 => config.truncate(rng.below(config.len() as u64) as usize),
            _ => {
                let n = rng.below(8) as usize;
                config.extend(rng.bytes(n));
            }
        }
    }
    let dim = |rng: &mut XorShift| match rng.below(6) {
        0 => 0,
        1 => 65_535,
        2 => 65_536,
        3 => u32::MAX,
        _ => 1 + rng.below(4000) as u32,
    };
    let (w, h) = (dim(rng), dim(rng));
    if h265 {
        VideoParams::h265(w, h, config)
    } else {
        VideoParams::h264(w, h, config)
    }
}

fn random_frame(rng: &mut XorShift) -> Vec<u8> {
    if rng.below(4) == 0 {
        let n = rng.below(40) as usize;
        return rng.bytes(n);
    }
    let mut v = Vec::new();
    for _ in 0..rng.below(4) {
        let n = rng.below(300) as usize;
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v.extend(rng.bytes(n));
    }
    v
}

fn random_timestamp(rng: &mut XorShift, last: i64, unwrapper: &mut RtpTimestampUnwrapper) -> i64 {
    match rng.below(10) {
        0 => rng.next() as i64,
        1 => last.wrapping_sub(rng.below(1_000_000) as i64),
        2 => last.wrapping_add(rng.below(10_000_000) as i64),
        3 => last,
        4 | 5 => unwrapper.extend((last as u32).wrapping_add(rng.below(200_000) as u32)),
        _ => last.wrapping_add(3000 + rng.below(1200) as i64),
    }
}

/// The property the fuzz target checks too: no panics, well-formed boxes,
/// strictly increasing decode times, sequence numbers counting up, frame
/// bytes where `trun` says they are.
#[test]
fn many_random_inputs() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok_params, mut ok_segments, mut bad_segments) = (0, 0, 0);
    for _ in 0..10_000 {
        let params = match random_params(&mut rng) {
            Ok(p) => p,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        ok_params += 1;
        let init = parse_init_segment(&init_segment(&params)).unwrap();
        assert_eq!(init.decoder_config, params.decoder_config());
        let config = TimelineConfig {
            default_frame_duration: rng.below(10_000) as u32,
            max_frame_duration: rng.next() as u32,
            max_forward_jump: rng.next() as u32,
        };
        let mut w = FragmentWriter::new(params, config);
        let mut unwrapper = RtpTimestampUnwrapper::new();
        let mut ts = rng.next() as i64;
        let mut last_decode: Option<u64> = None;
        for _ in 0..rng.below(40) {
            if rng.below(20) == 0 {
                if let Ok(p) = random_params(&mut rng) {
                    let same = *w.params() == p;
                    assert_eq!(w.set_params(p), !same);
                    parse_init_segment(&w.init_segment()).unwrap();
                }
            }
            ts = random_timestamp(&mut rng, ts, &mut unwrapper);
            let data = random_frame(&mut rng);
            let seq = w.next_sequence_number();
            let frame = Frame {
                data: &data,
                timestamp: ts,
                is_keyframe: rng.below(2) == 0,
                arrival: None,
            };
            match w.write(&frame) {
                Ok(seg) => {
                    ok_segments += 1;
                    let info = parse_media_segment(&seg.data).unwrap();
                    assert_eq!(info.sequence_number, seq);
                    assert_eq!(w.next_sequence_number(), seq + 1);
                    assert_eq!(info.sample_ranges.len(), 1);
                    assert_eq!(&seg.data[info.sample_ranges[0].clone()], &data[..]);
                    assert_eq!(info.mdat_payload, info.sample_ranges[0]);
                    assert!(info.samples[0].duration.unwrap() >= 1);
                    let flags = if frame.is_keyframe {
                        SYNC_SAMPLE_FLAGS
                    } else {
                        NON_SYNC_SAMPLE_FLAGS
                    };
                    assert_eq!(info.samples[0].flags, Some(flags));
                    if let Some(last) = last_decode {
                        assert!(info.base_decode_time > last);
                    }
                    last_decode = Some(info.base_decode_time);
                }
                Err(e) => {
                    bad_segments += 1;
                    let _ = e.to_string();
                    assert_eq!(w.next_sequence_number(), seq);
                    assert_eq!(w.timeline().last_decode_time(), last_decode);
                }
            }
        }
    }
    eprintln!("params ok: {ok_params}, segments ok: {ok_segments}, rejected: {bad_segments}");
    // The generator exercises both paths.
    assert!(ok_params > 800, "{ok_params}");
    assert!(
        ok_segments > 8000 && bad_segments > 5000,
        "{ok_segments} {bad_segments}"
    );
}

/// A frame's arrival goes into a `prft` before the `moof`; the `trun`'s data offset still
/// counts from the `moof`.
#[test]
fn prft_carries_the_arrival() {
    let mut w = FragmentWriter::new(h264_params(), TimelineConfig::default());
    let frame = avcc_frame(&[&[0x65, 0x88, 0x84, 0x00, 0x33]]);
    let arrival = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
    w.write(&Frame {
        data: &frame,
        timestamp: 1000,
        is_keyframe: true,
        arrival: None,
    })
    .unwrap();
    let seg = w
        .write(&Frame {
            data: &frame,
            timestamp: 4600,
            is_keyframe: false,
            arrival: Some(arrival),
        })
        .unwrap();
    assert_eq!(
        box_kinds(&seg.data),
        ["prft", "moof", "mfhd", "traf", "tfhd", "tfdt", "trun", "mdat"]
    );
    let info = parse_media_segment(&seg.data).unwrap();
    let prft = info.producer_time.unwrap();
    assert_eq!(prft.flags, PRFT_FLAGS);
    assert_eq!(prft.track_id, TRACK_ID);
    assert_eq!(prft.media_time, 3600);
    assert_eq!(prft.ntp_timestamp, ntp_timestamp(arrival));
    let secs = (prft.ntp_timestamp >> 32) - 2_208_988_800;
    let millis = ((prft.ntp_timestamp & 0xFFFF_FFFF) * 1000 + (1 << 31)) >> 32;
    assert_eq!((secs, millis), (1_700_000_000, 250));
    assert_eq!(&seg.data[info.sample_ranges[0].clone()], &frame[..]);
    let top = read_boxes(&seg.data).unwrap();
    assert_eq!(info.data_offset as usize, top[1].size() + 8);
}

/// Mangled parameter sets and frames, as a network might deliver them: the SPS rewrite and
/// the keyframe test never panic, and a rewrite that succeeds reads back as announcing no
/// reordering (a deterministic stand-in for the fuzz target, run with every test).
#[test]
fn mangled_spss_and_frames_never_panic() {
    use super::params::tests::HIGH_SPS;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut rewritten = 0;
    for i in 0..20_000 {
        let mut sps = if i % 2 == 0 { BASELINE_SPS } else { HIGH_SPS }.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(sps.len() as u64) as usize;
            match rng.below(3) {
                0 => sps[at] ^= 1 << rng.below(8),
                1 => sps.truncate(at.max(1)),
                _ => {
                    let n = rng.below(8) as usize;
                    sps.extend(rng.bytes(n));
                }
            }
        }
        sps[0] = 0x67;
        if let Ok(Some(out)) = super::sps::without_reordering(&sps) {
            rewritten += 1;
            let layout = super::sps::layout(&out).expect("a rewritten SPS reads back");
            let restriction = layout.restriction.expect("with a restriction");
            assert_eq!(restriction.max_num_reorder_frames, 0);
            assert_eq!(super::sps::without_reordering(&out), Ok(None));
        }
        let n = rng.below(64) as usize;
        let frame = rng.bytes(n);
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            let _ = classify(codec, &frame);
            let _ = classify(codec, &avcc_frame(&[&frame]));
        }
    }
    assert!(rewritten > 1000, "{rewritten} of 20,000 rewritten");
}
