use super::*;

fn params(width: u32) -> VideoParams {
    let avcc = vec![
        1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
    ];
    VideoParams::h264(width, 480, avcc).unwrap()
}

/// Frame `n`: one NAL unit whose last byte is `n`.
fn frame(n: u8, is_keyframe: bool) -> VideoFrame {
    VideoFrame {
        data: vec![0, 0, 0, 2, if is_keyframe { 0x65 } else { 0x41 }, n],
        timestamp: i64::from(n) * 3600,
        is_keyframe,
        has_b_slices: false,
        new_params: None,
        loss: 0,
        received: std::time::UNIX_EPOCH,
    }
}

fn first(n: u8) -> VideoFrame {
    VideoFrame {
        new_params: Some(params(640)),
        ..frame(n, true)
    }
}

fn stream(queue_len: usize) -> LiveStream {
    LiveStream::new(Quality::Main, queue_len, GopLimits::default())
}

/// What a viewer has ready: `I` for init, the frame number for media.
fn drain(viewer: &mut Viewer) -> Vec<i32> {
    let mut out = Vec::new();
    while let Some(msg) = viewer.try_recv() {
        out.push(match msg {
            LiveMessage::Init { .. } => -1,
            LiveMessage::Media(b) => i32::from(*b.last().unwrap()),
        });
    }
    out
}

const I: i32 = -1;

#[test]
fn new_viewer_gets_init_and_the_gop() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    s.push(&frame(2, false)).unwrap();
    s.push(&frame(3, true)).unwrap();
    s.push(&frame(4, false)).unwrap();
    let mut v = s.subscribe();
    assert_eq!(drain(&mut v), vec![I, 3, 4]);
    s.push(&frame(5, false)).unwrap();
    assert_eq!(drain(&mut v), vec![5]);
}

#[test]
fn viewer_before_any_frame_starts_at_a_keyframe() {
    let s = stream(16);
    let mut v = s.subscribe();
    assert_eq!(drain(&mut v), Vec::<i32>::new());
    // Non-keyframes before the first keyframe are not even packaged.
    assert_eq!(s.push(&frame(1, false)).unwrap(), Packaged::Skipped);
    s.push(&first(2)).unwrap();
    s.push(&frame(3, false)).unwrap();
    assert_eq!(drain(&mut v), vec![I, 2, 3]);
}

#[test]
fn slow_viewer_skips_to_the_next_keyframe() {
    let s = stream(4);
    s.push(&first(1)).unwrap();
    let mut slow = s.subscribe();
    let mut fast = s.subscribe();
    let mut fast_got = drain(&mut fast);
    for n in 2..=9 {
        s.push(&frame(n, false)).unwrap();
        fast_got.extend(drain(&mut fast));
    }
    // Backlog (init, 1), then the queue's 4 frames; 6..9 were dropped.
    assert_eq!(drain(&mut slow), vec![I, 1, 2, 3, 4, 5]);
    assert_eq!(slow.skips(), 1);
    s.push(&frame(10, false)).unwrap();
    s.push(&frame(11, true)).unwrap();
    s.push(&frame(12, false)).unwrap();
    fast_got.extend(drain(&mut fast));
    assert_eq!(drain(&mut slow), vec![11, 12]);
    assert_eq!(fast_got, [I].into_iter().chain(1..=12).collect::<Vec<_>>());
    assert_eq!(fast.skips(), 0);
}

#[test]
fn a_viewer_still_behind_waits_for_a_later_keyframe() {
    let s = stream(2);
    s.push(&first(1)).unwrap();
    let mut v = s.subscribe();
    for n in 2..=5 {
        s.push(&frame(n, false)).unwrap();
    }
    s.push(&frame(6, true)).unwrap(); // queue still full: not delivered
    assert_eq!(drain(&mut v), vec![I, 1, 2, 3]);
    s.push(&frame(7, false)).unwrap();
    s.push(&frame(8, true)).unwrap();
    assert_eq!(drain(&mut v), vec![8]);
}

#[test]
fn new_parameters_send_a_new_init_before_a_keyframe() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    let mut v = s.subscribe();
    drain(&mut v);
    let changed = VideoFrame {
        new_params: Some(params(1280)),
        ..frame(2, false)
    };
    assert_eq!(s.push(&changed).unwrap(), Packaged::Skipped);
    s.push(&frame(3, true)).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| v.try_recv()).collect();
    assert!(matches!(&got[0], LiveMessage::Init { .. }));
    assert_eq!(got.len(), 2);
    // A late joiner gets the new init, not the old one.
    let mut late = s.subscribe();
    let Some(LiveMessage::Init { segment, .. }) = late.try_recv() else {
        panic!("init first")
    };
    assert_eq!(
        segment,
        Bytes::from(crate::fmp4::init_segment(&params(1280)))
    );
    // Unchanged parameters change nothing.
    let same = VideoFrame {
        new_params: Some(params(1280)),
        ..frame(4, false)
    };
    assert!(matches!(s.push(&same).unwrap(), Packaged::Sent(..)));
}

#[test]
fn viewers_come_and_go_without_disturbing_others() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    let gone = s.subscribe();
    let mut stays = s.subscribe();
    assert_eq!(s.viewer_count(), 2);
    drop(gone);
    s.push(&frame(2, false)).unwrap();
    assert_eq!(s.viewer_count(), 1);
    assert_eq!(drain(&mut stays), vec![I, 1, 2]);
}

#[test]
fn a_new_session_resumes_at_a_keyframe_with_continuous_time() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    let Packaged::Sent(before, _) = s.push(&frame(2, false)).unwrap() else {
        panic!()
    };
    let mut v = s.subscribe();
    drain(&mut v);
    s.begin_session();
    assert!(s
        .subscribe()
        .try_recv()
        .is_some_and(|m| matches!(m, LiveMessage::Init { .. })));
    // The camera's clock restarted; frames before the keyframe are dropped.
    let mut after_restart = frame(0, false);
    after_restart.timestamp = 0;
    assert_eq!(s.push(&after_restart).unwrap(), Packaged::Skipped);
    let mut key = frame(9, true);
    key.timestamp = 3600;
    let Packaged::Sent(after, _) = s.push(&key).unwrap() else {
        panic!()
    };
    assert!(after.decode_time > before.decode_time);
    assert_eq!(drain(&mut v), vec![9]);
}

#[tokio::test]
async fn recv_ends_when_the_stream_goes() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    let mut v = s.subscribe();
    drop(s);
    assert!(matches!(v.recv().await, Some(LiveMessage::Init { .. })));
    assert!(matches!(v.recv().await, Some(LiveMessage::Media(_))));
    assert_eq!(v.recv().await, None);
}

#[test]
fn live_frames_carry_their_arrival_and_the_backlog_does_not() {
    let s = stream(16);
    s.push(&first(1)).unwrap();
    let mut v = s.subscribe();
    // The GOP a viewer starts with is old by design: no arrival to measure from.
    assert!(matches!(v.try_recv(), Some(LiveMessage::Init { .. })));
    assert_eq!(v.arrived(), None);
    assert!(matches!(v.try_recv(), Some(LiveMessage::Media(_))));
    assert_eq!(v.arrived(), None);
    let at = Instant::now() - std::time::Duration::from_millis(3);
    s.push_arrived(&frame(2, false), at).unwrap();
    assert!(matches!(v.try_recv(), Some(LiveMessage::Media(_))));
    assert_eq!(v.arrived(), Some(at));
    // A new init segment has no arrival either.
    let resized = VideoFrame {
        new_params: Some(params(800)),
        ..frame(3, true)
    };
    s.push_arrived(&resized, at).unwrap();
    assert!(matches!(v.try_recv(), Some(LiveMessage::Init { .. })));
    assert_eq!(v.arrived(), None);
    assert!(matches!(v.try_recv(), Some(LiveMessage::Media(_))));
    assert_eq!(v.arrived(), Some(at));
}

/// Parameters with a real x264 SPS (High 4.0, no bitstream restriction in its VUI).
fn real_params() -> VideoParams {
    let sps: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
    ];
    let pps: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0];
    let mut avcc = vec![1, 0x64, 0x00, 0x28, 0xFF, 0xE1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    VideoParams::h264(1920, 1080, avcc).unwrap()
}

fn init_config(v: &mut Viewer) -> Vec<u8> {
    let Some(LiveMessage::Init { segment, .. }) = v.try_recv() else {
        panic!("init first")
    };
    crate::fmp4::inspect::parse_init_segment(&segment)
        .unwrap()
        .decoder_config
}

#[test]
fn the_init_segment_announces_no_reordering_until_b_slices_show_up() {
    let s = stream(16);
    let params = real_params();
    let rewritten = params
        .without_reordering()
        .expect("x264's SPS has no bitstream restriction");
    s.push(&VideoFrame {
        new_params: Some(params.clone()),
        ..frame(1, true)
    })
    .unwrap();
    let mut v = s.subscribe();
    assert_eq!(init_config(&mut v), rewritten.decoder_config());
    drain(&mut v);
    // A frame with B slices: a new init segment with the camera's own SPS, from the next
    // keyframe on.
    let b_frame = VideoFrame {
        has_b_slices: true,
        ..frame(2, false)
    };
    assert_eq!(s.push(&b_frame).unwrap(), Packaged::Skipped);
    s.push(&frame(3, true)).unwrap();
    assert_eq!(init_config(&mut v), params.decoder_config());
    assert_eq!(drain(&mut v), vec![3]);
    // It stays so.
    s.push(&b_frame).unwrap();
    assert_eq!(drain(&mut v), vec![2]);
}

#[test]
fn a_gop_past_its_limits_is_reported_once() {
    let s = LiveStream::new(
        Quality::Main,
        16,
        GopLimits {
            max_bytes: 1 << 20,
            max_duration: std::time::Duration::from_millis(200),
        },
    );
    let mut outcomes = Vec::new();
    for n in 1..=10u8 {
        let f = if n == 1 { first(n) } else { frame(n, n == 9) };
        match s.push(&f).unwrap() {
            Packaged::Sent(_, gop) => outcomes.push(gop),
            Packaged::Skipped => panic!("frame {n} skipped"),
        }
    }
    use GopPush::*;
    // 200 ms = 5 frames of 40 ms after the keyframe.
    assert_eq!(
        outcomes,
        [Kept, Kept, Kept, Kept, Kept, Kept, Overflowed, Skipped, Kept, Kept]
    );
    // A new viewer starts at the last keyframe, 9.
    assert_eq!(drain(&mut s.subscribe()), vec![I, 9, 10]);
}
