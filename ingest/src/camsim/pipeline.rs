//! The GStreamer pipeline description each simulated camera serves.

use std::path::Path;

use super::{CamSimConfig, SimSource};

/// Name of the `valve` element that [`super::CamSim::stall`] closes.
pub(super) const STALL_VALVE: &str = "stall";

/// Name of the file source's `h264parse`, which interpolates decode times
/// but leaves presentation times unset; the camera copies one to the other
/// on its source pad (the file must have no B-frames, as cameras' streams),
/// since RTP timestamps come from presentation times.
pub(super) const FILE_PARSER: &str = "parse";

/// The `gst-launch` description of camera `index` (1-based): a live, moving
/// test pattern with the camera's name and the wall clock burnt in (so a
/// viewer sees at a glance which camera it watches and how late it is),
/// encoded the way cheap cameras do it: H.264 without B-frames, a keyframe
/// every `key_int` frames (x264's default of ~250 would make viewers wait
/// seconds for a picture), SPS/PPS repeated before each keyframe.
///
/// The stall valve sits *before* the encoder: while it is closed the encoder
/// simply gets no input, and after it opens again the next frame refers to
/// the last one clients received, so the stream decodes cleanly on resume.
pub(super) fn launch(config: &CamSimConfig, index: usize) -> String {
    if super::scene::of(config, index).is_some() {
        return super::scene::launch(config, index);
    }
    match &config.source {
        SimSource::Fisheye(cameras) if cameras.contains(&index) => {
            super::fisheye::launch(config, index)
        }
        SimSource::TestPattern
        | SimSource::Fisheye(_)
        | SimSource::Intrusion { .. }
        | SimSource::Brightness(_) => test_pattern(config, index),
        SimSource::H264File(path) => h264_file(path, config.fps),
    }
}

/// An Annex B H.264 file played in a loop at `fps`, encoding nothing (for
/// benchmarks, where the simulator must not eat the CPU being measured).
/// Timestamps come from `h264parse` and keep increasing across loops
/// (it only gives decode times; see [`FILE_PARSER`]). The
/// stall valve sits before the payloader here (there is no encoder to ask
/// for a keyframe), so a resumed stream decodes from its next keyframe.
fn h264_file(path: &Path, fps: u32) -> String {
    let location = path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        "( multifilesrc location=\"{location}\" loop=true \
             caps=\"video/x-h264,stream-format=byte-stream,framerate={fps}/1\" \
           ! h264parse name={FILE_PARSER} \
           ! valve name={STALL_VALVE} drop=false \
           ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
}

fn test_pattern(config: &CamSimConfig, index: usize) -> String {
    let CamSimConfig {
        width, height, fps, ..
    } = *config;
    format!(
        "( videotestsrc is-live=true pattern=ball \
           ! video/x-raw,width={width},height={height},framerate={fps}/1 \
           ! {} )",
        overlay_and_encode(config, &format!("cam{index}"))
    )
}

/// What follows a camera's raw picture: `label` and the wall clock burnt in, the stall
/// valve, the encoder and the payloader (shared by every encoded source).
pub(super) fn overlay_and_encode(config: &CamSimConfig, label: &str) -> String {
    let CamSimConfig {
        key_int,
        bitrate_kbps,
        ..
    } = *config;
    format!(
        "clockoverlay text=\"{label}\" halignment=left valignment=top \
               shaded-background=true time-format=\"%H:%M:%S\" \
           ! valve name={STALL_VALVE} drop=false \
           ! videoconvert \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_int} \
               bitrate={bitrate_kbps} threads=1 \
           ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_names_the_payloader_and_the_valve() {
        let text = launch(&CamSimConfig::default(), 3);
        assert!(text.contains("name=pay0"));
        assert!(text.contains("valve name=stall"));
        assert!(text.contains("text=\"cam3\""));
        assert!(text.contains("key-int-max=25"));
    }

    #[test]
    fn file_source_is_quoted() {
        let config = CamSimConfig {
            source: SimSource::H264File("/tmp/a \"b\".h264".into()),
            ..CamSimConfig::default()
        };
        let text = launch(&config, 1);
        assert!(text.contains(r#"location="/tmp/a \"b\".h264""#), "{text}");
        assert!(text.contains("name=pay0"));
    }
}
