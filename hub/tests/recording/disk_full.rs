//! A full disk: the recorder writes into a small file system (a tmpfs of 1 MiB, mounted for
//! the test) until a write fails with ENOSPC. Recording there stops with a status saying
//! why; live video, the camera's session and the store go on; every segment indexed, the cut
//! one included, decodes; freeing space resumes recording.
//!
//! Mounting needs root (or passwordless sudo); without it the test says it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gridwatch_ingest::camsim::{CamSim, CamSimConfig, SimSource};
use gridwatch_ingest::recording::{RecordMode, SegmentRef, StopReason};
use gridwatch_ingest::{Cameras, LiveMessage, Quality, StreamState};
use gridwatch_store::Store;

use super::support::{assert_index_matches_disk, open_recorder, quick_config};
use crate::ingest_common::{camera, fast_config, wait_for};

/// A tmpfs of `size` mounted at a new directory; unmounted when dropped.
pub(super) struct SmallDisk {
    path: PathBuf,
    sudo: bool,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        Self::mount_with(&format!("size={size}"))
    }

    /// A tmpfs mounted with `options` (`size=…`, `nr_inodes=…`); `None` (the test skipped)
    /// where mounting is not allowed and `GRIDWATCH_REQUIRE_MOUNT` is not set.
    pub(super) fn mount_with(options: &str) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let sudo = !root
            && Command::new("sudo")
                .args(["-n", "true"])
                .status()
                .is_ok_and(|s| s.success());
        if !root && !sudo {
            assert!(
                std::env::var_os("GRIDWATCH_REQUIRE_MOUNT").is_none(),
                "cannot mount a tmpfs (not root, no passwordless sudo) and \
                 GRIDWATCH_REQUIRE_MOUNT is set"
            );
            eprintln!("small-disk test SKIPPED: mounting a tmpfs needs root or passwordless sudo");
            return None;
        }
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mut mount = if sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "mount"]);
            c
        } else {
            Command::new("mount")
        };
        let options = format!("{options},mode=0777");
        let status = mount
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs failed");
        Some(Self {
            path,
            sudo,
            _parent: parent,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let mut umount = if self.sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "umount"]);
            c
        } else {
            Command::new("umount")
        };
        let _ = umount.arg("-l").arg(&self.path).status();
    }
}

/// 4 s of noise at 4 Mbit/s, 640x360, a keyframe a second, no B-frames, Annex B: encoded
/// once into the target's temporary directory. `None` without ffmpeg.
fn noisy_clip() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recording");
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("noise-360p-4M.h264");
    if clip.exists() {
        return Some(clip);
    }
    let partial = dir.join(format!("noise-{}.h264", std::process::id()));
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25,noise=alls=60:allf=t+u")
        .args(["-t", "4", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-b:v", "4M", "-maxrate", "4M", "-bufsize", "2M"])
        .args(["-bf", "0", "-g", "25", "-pix_fmt", "yuv420p", "-f", "h264"])
        .arg(&partial)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("disk-full test SKIPPED: ffmpeg could not encode its clip");
        return None;
    }
    std::fs::rename(&partial, &clip).unwrap();
    Some(clip)
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

gridwatch_store::on_both!(
    a_full_disk_stops_recording_with_a_status_and_live_video_goes_on,
    |store: Store| async move {
        let Some(disk) = SmallDisk::mount("1m") else {
            return;
        };
        let Some(clip) = noisy_clip() else { return };
        // 4 Mbit/s fills 1 MiB in about two seconds.
        let sim = CamSim::start(CamSimConfig {
            source: SimSource::H264File(clip),
            ..CamSimConfig::default()
        })
        .unwrap();
        let recorder = open_recorder(&store, quick_config(disk.path())).await;
        let dir_id = recorder.statuses()[0].id.clone().unwrap();
        let dir = recorder.statuses()[0].path.clone();
        let cameras = Cameras::with_recorder(fast_config(), recorder.clone());
        let mut cam = camera("c1", &sim.url(1));
        cam.record = RecordMode::Continuous;
        cameras.apply([cam]);
        wait_for(&cameras, "c1", StreamState::Online, Duration::from_secs(10)).await;

        let started = Instant::now();
        wait_until("the disk to fill", Duration::from_secs(60), || {
            !recorder.statuses()[0].is_recording()
        })
        .await;
        eprintln!("disk full after {:?}", started.elapsed());
        let status = recorder.statuses()[0].clone();
        assert_eq!(status.stopped, Some(StopReason::DiskFull), "{status:?}");
        assert!(
            status.reason.as_deref().unwrap().contains("No space"),
            "{status:?}"
        );

        // Live video goes on: a new viewer gets frames, the camera stays online on its one
        // session, and the frames offered meanwhile are counted as not recorded.
        let mut viewer = cameras.subscribe("c1", Quality::Main).unwrap();
        let mut media = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while media < 25 {
            match tokio::time::timeout_at(deadline, viewer.recv()).await {
                Ok(Some(LiveMessage::Media(_))) => media += 1,
                Ok(Some(LiveMessage::Init { .. })) => {}
                other => panic!("live video stopped: {other:?} after {media} frames"),
            }
        }
        assert!(cameras.status("c1").unwrap().state().is_online());
        assert_eq!(sim.client_count(1).unwrap(), 1);
        wait_until(
            "frames counted as not recorded",
            Duration::from_secs(5),
            || recorder.stats()[0].dropped_stopped > 0,
        )
        .await;

        // What was written is whole and indexed, the segment cut by ENOSPC included.
        let segments = assert_index_matches_disk(&store, &dir_id, &dir).await;
        assert!(segments >= 1);
        eprintln!("{segments} segments checked after {:?}", started.elapsed());

        // Space comes back (the recordings deleted): recording resumes by itself.
        let rows = store.recording_files_in_dir(&dir_id).await.unwrap();
        let refs: Vec<SegmentRef> = rows
            .iter()
            .map(|r| SegmentRef {
                id: r.id.clone(),
                dir_id: dir_id.clone(),
                path: r.path.clone(),
            })
            .collect();
        let deleter = recorder.clone();
        let deleted = tokio::task::spawn_blocking(move || deleter.delete(&refs))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted.deleted.len(), rows.len());
        wait_until("recording to resume", Duration::from_secs(10), || {
            recorder.statuses()[0].is_recording()
        })
        .await;
        let written = recorder.stats()[0].frames_written;
        wait_until("new segments", Duration::from_secs(10), || {
            recorder.stats()[0].segments_finished > 0
                && recorder.stats()[0].frames_written > written
        })
        .await;
        eprintln!("resumed after {:?}", started.elapsed());
        cameras.clear();
        let r = recorder.clone();
        tokio::task::spawn_blocking(move || r.shutdown())
            .await
            .unwrap();
        assert_index_matches_disk(&store, &dir_id, &dir).await;
    }
);
