//! Checking recorded files with the world's tools: ffprobe decodes every frame.

use std::path::Path;
use std::process::Command;

/// What ffprobe found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Frames decoded (`-count_frames`).
    pub frames: u64,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Seconds, from the container.
    pub duration: f64,
}

/// Whether ffprobe is here; without it the checks print that they are
/// skipped, unless `GRIDWATCH_REQUIRE_FFPROBE` is set, which makes them fail.
pub fn have_ffprobe(test: &str) -> bool {
    let found = Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("GRIDWATCH_REQUIRE_FFPROBE").is_none(),
            "{test}: ffprobe not found and GRIDWATCH_REQUIRE_FFPROBE is set"
        );
        eprintln!("{test}: ffprobe checks SKIPPED (ffprobe not found)");
    }
    found
}

/// Decodes every video frame of `path` with ffprobe; panics on any error
/// it reports.
pub fn probe(path: &Path) -> Probed {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,codec_name,width,height:format=duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe {}: {stderr}",
        path.display()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("ffprobe gave no {name}: {stdout}"))
            .to_string()
    };
    Probed {
        frames: field("nb_read_frames").parse().expect("a frame count"),
        codec: field("codec_name"),
        width: field("width").parse().expect("a width"),
        height: field("height").parse().expect("a height"),
        duration: field("duration").parse().unwrap_or(0.0),
    }
}
