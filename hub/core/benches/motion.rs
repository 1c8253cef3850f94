//! CPU per camera of motion detection at 640×360, 5 fps (issue 19; aim: 50 cameras in one
//! core). Only the detector is measured: decoding the sub stream is the ingest's cost.
//!
//! `cargo bench -p gridwatch-core --bench motion`. A scene with noise, an intruder crossing
//! for part of the time and a slow brightness ramp, one zone over half the picture.

use gridwatch_core::motion::detector::synthetic::{paint_box, scene, Lcg};
use gridwatch_core::motion::detector::{Detector, DetectorTuning, GrayFrame};
use gridwatch_core::motion::{MotionSettings, Zone};
use std::time::Instant;

const W: u32 = 640;
const H: u32 = 360;
const FPS: f64 = 5.0;
const FRAMES: i64 = 300;

fn main() {
    let settings = MotionSettings {
        enabled: true,
        zones: vec![Zone {
            name: "yard".into(),
            points: vec![[0.0, 0.2], [0.6, 0.2], [0.6, 1.0], [0.0, 1.0]],
        }],
        ..MotionSettings::default()
    };
    let mut rng = Lcg(11);
    // Frames made beforehand: only the detector is timed.
    let frames: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| {
            let mut f = scene(W, H, (i / 10) as i32, 6, &mut rng);
            if (100..160).contains(&i) {
                let x = ((i - 100) * 8) as u32;
                paint_box(&mut f, W, (x, 150), (60, 120), 220);
            }
            f
        })
        .collect();
    let mut detector = Detector::new(settings, DetectorTuning::default());
    let mut detections = 0;
    let start = Instant::now();
    for (i, data) in frames.iter().enumerate() {
        let frame = GrayFrame {
            width: W,
            height: H,
            data,
            at_ms: i as i64 * (1000.0 / FPS) as i64,
        };
        detections += detector
            .feed(frame)
            .expect("frame of the right size")
            .iter()
            .count();
    }
    let per_frame = start.elapsed().as_secs_f64() / FRAMES as f64;
    let core_share = per_frame * FPS;
    println!(
        "motion detection {W}x{H} at {FPS} fps: {:.3} ms per frame, {:.2} % of one core per \
         camera, {:.0} cameras per core ({detections} detection(s) in {FRAMES} frames)",
        per_frame * 1e3,
        core_share * 100.0,
        1.0 / core_share
    );
}
