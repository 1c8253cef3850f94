//! Real-world check of the fMP4 writer: encode a test pattern with ffmpeg
//! (libx264 / libx265 without B-frames, as cameras send, Annex B with access
//! unit delimiters), repackage it the
//! way the ingest path does (AVCC 4-byte lengths, `avcC`/`hvcC` built from the
//! parameter sets, 32-bit RTP timestamps crossing the wrap and a clock jump),
//! and have ffprobe/ffmpeg read and decode the resulting fragmented MP4.
//!
//! Without ffmpeg/ffprobe the tests print that they are skipped and pass,
//! unless `GRIDWATCH_REQUIRE_FFPROBE` is set, in which case they fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gridwatch_ingest::fmp4::{
    classify, init_segment, inspect, nal_payload, rbsp, FragmentWriter, Frame,
    RtpTimestampUnwrapper, TimelineConfig, VideoParams,
};

const FRAMES: usize = 50;
const FPS: u32 = 25;

fn tool_works(name: &str) -> bool {
    Command::new(name)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the test can run; panics instead of skipping if required.
fn can_run(test: &str, encoder: &str) -> bool {
    let missing = if !tool_works("ffprobe") {
        Some("ffprobe not found".to_string())
    } else if !tool_works("ffmpeg") {
        Some("ffmpeg not found".to_string())
    } else {
        let encoders = Command::new("ffmpeg")
            .args(["-hide_banner", "-encoders"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        (!encoders.contains(encoder)).then(|| format!("ffmpeg has no {encoder} encoder"))
    };
    match missing {
        None => true,
        Some(why) if std::env::var_os("GRIDWATCH_REQUIRE_FFPROBE").is_some() => {
            panic!("{test}: {why}, and GRIDWATCH_REQUIRE_FFPROBE is set")
        }
        Some(why) => {
            eprintln!("{test}: SKIPPED ({why}); set GRIDWATCH_REQUIRE_FFPROBE to make this fail");
            false
        }
    }
}

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fmp4-ffprobe");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Encodes `FRAMES` frames of a 320x240 test pattern as an Annex B stream.
fn encode(path: &Path, encoder: &str, params_flag: &str, params: &str, format: &str) {
    let duration = format!("{}", FRAMES as f64 / f64::from(FPS));
    run(Command::new("ffmpeg").args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate={FPS}"),
        "-t",
        &duration,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        encoder,
        params_flag,
        params,
        "-f",
        format,
        path.to_str().unwrap(),
    ]));
}

/// Splits an Annex B byte stream into NAL units.
fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        // Trailing zeros belong to the next 4-byte start code.
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        nals.push(&data[s..e]);
    }
    nals
}

/// An access unit: AVCC frame data and whether it is a keyframe.
struct AccessUnit {
    data: Vec<u8>,
    keyframe: bool,
}

/// Groups NAL units into access units at each AUD, dropping the AUDs and
/// converting to 4-byte length prefixes.
fn access_units(
    nals: &[&[u8]],
    nal_type: impl Fn(&[u8]) -> u8,
    aud: u8,
    is_key: impl Fn(u8) -> bool,
) -> Vec<AccessUnit> {
    let mut aus: Vec<AccessUnit> = Vec::new();
    for nal in nals {
        let t = nal_type(nal);
        if t == aud {
            aus.push(AccessUnit {
                data: Vec::new(),
                keyframe: false,
            });
            continue;
        }
        let au = aus.last_mut().expect("stream starts with an AUD");
        au.data
            .extend_from_slice(&u32::try_from(nal.len()).unwrap().to_be_bytes());
        au.data.extend_from_slice(nal);
        au.keyframe |= is_key(t);
    }
    aus
}

/// Writes init segment + one media segment per access unit, with 32-bit RTP
/// timestamps that wrap around and a backwards clock jump at frame 30.
fn package(params: VideoParams, aus: &[AccessUnit], out: &Path) -> Vec<u64> {
    let codec = params.codec();
    let mut writer = FragmentWriter::new(params, TimelineConfig::for_frame_rate(FPS));
    let mut file = init_segment(writer.params());
    let mut unwrapper = RtpTimestampUnwrapper::new();
    let mut raw: u32 = u32::MAX - 10 * 3600;
    let mut decode_times = Vec::new();
    let mut rebased = 0;
    for (i, au) in aus.iter().enumerate() {
        // The ingest's own keyframe test agrees with the encoder's NAL unit types.
        let picture = classify(codec, &au.data).unwrap();
        assert_eq!(picture.is_keyframe(), au.keyframe, "frame {i}");
        raw = if i == 30 {
            raw.wrapping_sub(123_456)
        } else {
            raw.wrapping_add(3600)
        };
        let seg = writer
            .write(&Frame {
                data: &au.data,
                timestamp: unwrapper.extend(raw),
                is_keyframe: au.keyframe,
                arrival: Some(std::time::SystemTime::now()),
            })
            .unwrap();
        inspect::parse_media_segment(&seg.data).unwrap();
        rebased += usize::from(seg.rebased);
        decode_times.push(seg.sample.decode_time);
        file.extend_from_slice(&seg.data);
    }
    assert_eq!(rebased, 1);
    std::fs::write(out, &file).unwrap();
    decode_times
}

/// `key=value` lines of `ffprobe -of default=nw=1`.
fn ffprobe_stream(path: &Path) -> HashMap<String, String> {
    let out = run(Command::new("ffprobe").args([
        "-v",
        "error",
        "-count_frames",
        "-show_entries",
        "stream=codec_name,codec_tag_string,profile,level,width,height,nb_read_frames,has_b_frames",
        "-of",
        "default=nw=1",
        path.to_str().unwrap(),
    ]));
    eprintln!("ffprobe {}:\n{out}", path.display());
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Packet timestamps (seconds) and key flags as ffprobe reads them.
fn ffprobe_packets(path: &Path) -> Vec<(f64, bool)> {
    let out = run(Command::new("ffprobe").args([
        "-v",
        "error",
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ]));
    out.lines()
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap();
            (pts.parse().unwrap(), flags.starts_with('K'))
        })
        .collect()
}

/// Decodes every frame; ffmpeg must report no error at all.
fn decode_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

fn check_file(path: &Path, aus: &[AccessUnit], decode_times: &[u64]) -> HashMap<String, String> {
    let stream = ffprobe_stream(path);
    assert_eq!(stream["width"], "320");
    assert_eq!(stream["height"], "240");
    assert_eq!(stream["nb_read_frames"], FRAMES.to_string());

    let packets = ffprobe_packets(path);
    assert_eq!(packets.len(), FRAMES);
    for (k, ((pts, key), au)) in packets.iter().zip(aus).enumerate() {
        assert_eq!(*key, au.keyframe, "packet {k}");
        let expected = decode_times[k] as f64 / 90_000.0;
        assert!(
            (pts - expected).abs() < 1e-6,
            "packet {k}: {pts} vs {expected}"
        );
    }
    // One frame every 40 ms, through the RTP wrap and the clock jump.
    for w in packets.windows(2) {
        assert!((w[1].0 - w[0].0 - 0.04).abs() < 1e-6, "{w:?}");
    }
    decode_cleanly(path);
    stream
}

/// `FRAMES` frames of x264 (High, no B-frames, a keyframe every second, with AUDs).
fn encode_x264(path: &Path) -> Vec<u8> {
    encode(
        path,
        "libx264",
        "-x264-params",
        "aud=1:keyint=25:min-keyint=25:bframes=0",
        "h264",
    );
    std::fs::read(path).unwrap()
}

/// The `avcC` record of one SPS and one PPS.
fn avcc(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
    avcc.extend_from_slice(&u16::try_from(sps.len()).unwrap().to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&u16::try_from(pps.len()).unwrap().to_be_bytes());
    avcc.extend_from_slice(pps);
    if sps[1] == 100 {
        // High profile extension: 4:2:0, 8 bit, no SPS extensions.
        avcc.extend_from_slice(&[0xFD, 0xF8, 0xF8, 0]);
    }
    avcc
}

#[test]
fn ffprobe_reads_h264_fmp4() {
    if !can_run("ffprobe_reads_h264_fmp4", "libx264") {
        return;
    }
    let dir = work_dir();
    let data = encode_x264(&dir.join("testsrc.h264"));
    let nals = split_annex_b(&data);
    let find = |t: u8| *nals.iter().find(|n| n[0] & 0x1F == t).unwrap();
    let (sps, pps) = (find(7), find(8));
    let params = VideoParams::h264(320, 240, avcc(sps, pps)).unwrap();

    let aus = access_units(&nals, |n| n[0] & 0x1F, 9, |t| t == 5);
    assert_eq!(aus.len(), FRAMES);
    let out = dir.join("testsrc-h264.mp4");
    let codec = params.rfc6381_codec().to_string();
    let decode_times = package(params, &aus, &out);

    let stream = check_file(&out, &aus, &decode_times);
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["codec_tag_string"], "avc1");
    assert_eq!(stream["profile"], "High");
    let level: u8 = stream["level"].parse().unwrap();
    assert_eq!(codec, format!("avc1.64{:02X}{level:02X}", sps[2]));
    eprintln!(
        "h264: {} frames ({} keyframes), codec {codec}, {} bytes in {}",
        FRAMES,
        aus.iter().filter(|a| a.keyframe).count(),
        std::fs::metadata(&out).unwrap().len(),
        out.display()
    );
}

#[test]
fn ffprobe_reads_h265_fmp4() {
    if !can_run("ffprobe_reads_h265_fmp4", "libx265") {
        return;
    }
    let dir = work_dir();
    let es = dir.join("testsrc.h265");
    encode(
        &es,
        "libx265",
        "-x265-params",
        "aud=1:keyint=25:min-keyint=25:bframes=0:log-level=error",
        "hevc",
    );
    let data = std::fs::read(&es).unwrap();
    let nals = split_annex_b(&data);
    let nal_type = |n: &[u8]| (n[0] >> 1) & 0x3F;
    let find = |t: u8| *nals.iter().find(|n| nal_type(n) == t).unwrap();
    let (vps, sps, pps) = (find(32), find(33), find(34));

    // profile_tier_level's general part: 12 bytes after the NAL header and
    // the sps_video_parameter_set_id / max_sub_layers / nesting byte.
    let sps_rbsp = rbsp(sps);
    let mut hvcc = vec![1];
    hvcc.extend_from_slice(&sps_rbsp[3..15]);
    // min_spatial_segmentation, parallelism, 4:2:0, 8 bit, avgFrameRate,
    // 1 temporal layer, nested, lengthSizeMinusOne = 3.
    hvcc.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F]);
    hvcc.push(3);
    for (t, nal) in [(32u8, vps), (33, sps), (34, pps)] {
        hvcc.push(0x80 | t);
        hvcc.extend_from_slice(&1u16.to_be_bytes());
        hvcc.extend_from_slice(&u16::try_from(nal.len()).unwrap().to_be_bytes());
        hvcc.extend_from_slice(nal);
    }
    let params = VideoParams::h265(320, 240, hvcc).unwrap();

    let aus = access_units(&nals, nal_type, 35, |t| (16..=23).contains(&t));
    assert_eq!(aus.len(), FRAMES);
    // x265's open GOP: the first keyframe is an IDR picture, the next one a CRA picture,
    // and ffprobe sees both as key frames (check_file).
    let keyframe_types: Vec<u8> = nals
        .iter()
        .map(|n| nal_type(n))
        .filter(|t| (16..=23).contains(t))
        .collect();
    assert_eq!(keyframe_types, [20, 21], "IDR_N_LP, then CRA");
    let out = dir.join("testsrc-h265.mp4");
    let codec = params.rfc6381_codec().to_string();
    let decode_times = package(params, &aus, &out);

    let stream = check_file(&out, &aus, &decode_times);
    assert_eq!(stream["codec_name"], "hevc");
    assert_eq!(stream["codec_tag_string"], "hvc1");
    assert_eq!(stream["profile"], "Main");
    let level = &stream["level"];
    assert!(
        codec.starts_with(&format!("hvc1.1.6.L{level}")),
        "{codec} vs level {level}"
    );
    eprintln!(
        "h265: {} frames ({} keyframes), codec {codec}, {} bytes in {}",
        FRAMES,
        aus.iter().filter(|a| a.keyframe).count(),
        std::fs::metadata(&out).unwrap().len(),
        out.display()
    );
}

/// An SPS as h264-reader (an independent parser) reads it.
fn parse_sps(sps: &[u8]) -> Option<h264_reader::nal::sps::SeqParameterSet> {
    let rbsp = h264_reader::rbsp::decode_nal(sps).ok()?;
    h264_reader::nal::sps::SeqParameterSet::from_bits(h264_reader::rbsp::BitReader::new(&rbsp[..]))
        .ok()
}

/// `sps` without its VUI, as many cameras send it: the bits up to some position, a zero
/// `vui_parameters_present_flag` and the trailing bits, where the position is the one at
/// which h264-reader reads everything else as before and no VUI. (The VUI does not take
/// part in decoding slices, so the stream still decodes.)
fn without_vui(sps: &[u8]) -> Vec<u8> {
    let mut original = parse_sps(sps).expect("a valid SPS");
    assert!(original.vui_parameters.is_some(), "x264 writes a VUI");
    original.vui_parameters = None;
    let bits = rbsp(&sps[1..]);
    let bit = |i: usize| (bits[i / 8] >> (7 - i % 8)) & 1;
    for at in (8..bits.len() * 8).rev() {
        let mut out = vec![0u8; at / 8 + 2];
        for i in 0..at {
            out[i / 8] |= bit(i) << (7 - i % 8);
        }
        // vui_parameters_present_flag = 0, then rbsp_stop_one_bit.
        out[(at + 1) / 8] |= 1 << (7 - (at + 1) % 8);
        out.truncate((at + 1) / 8 + 1);
        let mut candidate = vec![sps[0]];
        candidate.extend_from_slice(&nal_payload(&out));
        if parse_sps(&candidate).as_ref() == Some(&original) {
            return candidate;
        }
    }
    panic!("no VUI flag found")
}

/// Cameras often send an SPS without VUI, so a decoder must assume frames are reordered
/// and hold some back. Here x264's SPS loses its VUI the same way; the init segment
/// carries it rewritten to announce no reordering; ffprobe and ffmpeg read and decode
/// every frame with it, and h264-reader reads the restriction back from the init segment.
#[test]
fn ffprobe_reads_h264_with_the_sps_rewritten() {
    if !can_run("ffprobe_reads_h264_with_the_sps_rewritten", "libx264") {
        return;
    }
    let dir = work_dir();
    let data = encode_x264(&dir.join("no-vui.h264"));
    let nals = split_annex_b(&data);
    let find = |t: u8| *nals.iter().find(|n| n[0] & 0x1F == t).unwrap();
    let (x264_sps, pps) = (find(7), find(8));
    let sps = without_vui(x264_sps);
    let params = VideoParams::h264(320, 240, avcc(&sps, pps)).unwrap();
    let rewritten = params
        .without_reordering()
        .expect("an SPS without VUI announces no reordering limit");

    // The in-band SPS goes (as retina drops it): the one in the init segment counts.
    let nals: Vec<&[u8]> = nals.into_iter().filter(|n| n[0] & 0x1F != 7).collect();
    let aus = access_units(&nals, |n| n[0] & 0x1F, 9, |t| t == 5);
    assert_eq!(aus.len(), FRAMES);
    let out = dir.join("no-vui-rewritten.mp4");
    let decode_times = package(rewritten, &aus, &out);
    let stream = check_file(&out, &aus, &decode_times);
    assert_eq!(stream["codec_name"], "h264");

    let file = std::fs::read(&out).unwrap();
    let init_len = inspect::read_boxes(&file).unwrap()[..2]
        .iter()
        .map(|b| b.size())
        .sum::<usize>();
    let init = inspect::parse_init_segment(&file[..init_len]).unwrap();
    let record = &init.decoder_config;
    let sps_len = usize::from(u16::from_be_bytes([record[6], record[7]]));
    let in_init = parse_sps(&record[8..8 + sps_len]).unwrap();
    let restriction = in_init
        .vui_parameters
        .as_ref()
        .and_then(|v| v.bitstream_restrictions.clone())
        .expect("a bitstream restriction");
    assert_eq!(restriction.max_num_reorder_frames, 0);
    assert_eq!(
        restriction.max_dec_frame_buffering,
        in_init.max_num_ref_frames.max(1)
    );
    eprintln!(
        "h264 without VUI: SPS {} bytes, {} with VUI {} after the rewrite; ffprobe: has_b_frames {}",
        x264_sps.len(),
        sps.len(),
        sps_len,
        stream["has_b_frames"]
    );
}
