//! A camera's recordings read back as the live path sends video: an init segment, then one
//! media segment (`prft` + `moof` + `mdat`) per frame, from the last keyframe at or before the
//! instant asked for, on one continuous media timeline across segment boundaries and gaps (so
//! the player never waits for a time that will not come). The `prft` carries the frame's
//! recorded wall-clock time, as live carries its arrival: the page shows when it was.
//!
//! Segments come from the store's index, a few at a time, then the segment being written (from
//! the recorder, when this process records). Each is read one fragment at a time with the
//! ingest's [`FragmentReader`] (the bytes as recorded, never decoded): a viewer holds about a
//! second of video, not the whole segment. A new init segment is produced only when the codec
//! parameters change; a gap of [`JOIN_WITHIN_MS`] or more between two segments, or a hole of
//! more than [`HOLE_LONGER_THAN_MS`] inside one, is reported as such. The segment being
//! written is read as far as it is flushed (whole fragments, about a second behind the
//! camera), and followed while it grows; where the replay catches up with it, or at the end of
//! what is indexed when nothing is being written, the replay ends (the page goes live).

use std::collections::VecDeque;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::recording::playback::{HOLE_LONGER_THAN_MS, JOIN_WITHIN_MS};
use gridwatch_core::recording::Segment;
use gridwatch_ingest::config::Quality;
use gridwatch_ingest::fmp4::{media_segment, SampleInfo};
use gridwatch_ingest::recording::fragments::{Fragment, FragmentReader};
use gridwatch_ingest::recording::scan::ScanError;
use gridwatch_ingest::recording::Recorder;
use gridwatch_store::StoreError;

use super::clips::MAIN;
use super::fetch::{FetchError, SegmentFiles};

/// How much of the index is read at a time.
const WINDOW_MINUTES: i64 = 10;

/// A frame's duration when the recording gives none (the last one of a torn segment): 25 fps.
const FALLBACK_DURATION: u32 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A segment of an ingest worker that could not be fetched (or did not match its index).
    #[error(transparent)]
    Fetch(FetchError),
    #[error("segment {path}: {source}")]
    Scan {
        path: String,
        #[source]
        source: ScanError,
    },
    #[error("segment {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("reading a segment failed: {0}")]
    Task(String),
}

/// What the replay sends next.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayItem {
    /// An init segment: at the start, and whenever the codec parameters change.
    Init { mime: String, segment: Vec<u8> },
    /// Nothing was recorded from `from` to `to`: skipped.
    Gap {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// One frame as a media segment; `media` is its decode time on the replay's timeline
    /// (90 kHz from the first frame sent), `duration` its length.
    Frame {
        media: u64,
        duration: u32,
        wall: DateTime<Utc>,
        segment: Vec<u8>,
    },
    /// Nothing more is recorded.
    End,
}

/// A segment to play: a finished one from the index, or the one being written.
enum Source {
    Indexed(Segment),
    Open {
        id: String,
        path: PathBuf,
        start: DateTime<Utc>,
    },
}

/// The segment being played and where the replay is in it.
struct Loaded {
    id: String,
    /// For messages: its path.
    name: String,
    start: DateTime<Utc>,
    /// Its end as indexed; `None` while it is (or was, when loaded) being written.
    end: Option<DateTime<Utc>>,
    /// `None` only while a read runs.
    reader: Option<FragmentReader>,
    fragment: Option<Fragment>,
    sample: usize,
    /// Samples of the next fragment read to skip (the start position, once).
    skip: usize,
    /// Wall clock at the end of the last frame sent from it.
    sent_until: Option<DateTime<Utc>>,
}

impl From<FetchError> for ReplayError {
    fn from(e: FetchError) -> ReplayError {
        match e {
            FetchError::Store(e) => ReplayError::Store(e),
            e => ReplayError::Fetch(e),
        }
    }
}

/// A replay. Finished segments are read wherever they were recorded (here, or fetched from the
/// ingest worker that recorded them, [`SegmentFiles`]); the segment being written is played
/// only when this process writes it. A hub in `[ingest] mode = "workers"` therefore relays a
/// playback to the worker holding the camera (`crate::http::proxy::playback`), whose replay
/// runs on through its open segment to live; the hub's own replay, when no worker can serve
/// it, ends where the index ends, up to a segment (a minute) before live.
pub struct Replay {
    files: SegmentFiles,
    /// Where the segment being written is learnt of; `None` when this process records nothing.
    recorder: Option<Recorder>,
    camera: String,
    /// Segments not played yet, in time order.
    queue: VecDeque<Source>,
    /// The end of the last segment taken from the index (where the next read starts), and
    /// that segment's start (those starting at or before it are played already).
    read_until: DateTime<Utc>,
    last_start: Option<DateTime<Utc>>,
    /// The end of the last segment played, for gaps.
    played_until: Option<DateTime<Utc>>,
    current: Option<Loaded>,
    /// Where the first segment starts being played.
    start_at: Option<DateTime<Utc>>,
    init_key: Option<(String, Vec<u8>)>,
    media: u64,
    sequence: u32,
    last_duration: u32,
    ended: bool,
    pending: VecDeque<ReplayItem>,
}

impl Replay {
    /// A replay of `camera`'s recordings from `from`; `None` when nothing is recorded at or
    /// after it. `recorder` is this process's, for the segment being written.
    pub async fn open(
        files: SegmentFiles,
        recorder: Option<Recorder>,
        camera: &str,
        from: DateTime<Utc>,
    ) -> Result<Option<Replay>, ReplayError> {
        let mut replay = Replay {
            files,
            recorder,
            camera: camera.to_string(),
            queue: VecDeque::new(),
            read_until: from,
            last_start: None,
            played_until: None,
            current: None,
            start_at: Some(from),
            init_key: None,
            media: 0,
            sequence: 1,
            last_duration: FALLBACK_DURATION,
            ended: false,
            pending: VecDeque::new(),
        };
        replay.read_index().await?;
        if replay.queue.is_empty() && from < Utc::now() {
            replay.queue_unindexed();
        }
        if replay.queue.is_empty() {
            return Ok(None);
        }
        Ok(Some(replay))
    }

    /// The next thing to send; [`ReplayItem::End`] once, then `None`.
    pub async fn next(&mut self) -> Result<Option<ReplayItem>, ReplayError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if self.ended {
                return Ok(None);
            }
            if let Some(frame) = self.next_frame()? {
                return Ok(Some(frame));
            }
            if self.current.is_some() {
                // The fragment is done: the segment's next one.
                if self.read_fragment().await? {
                    continue;
                }
                if let Some(loaded) = self.current.as_mut().filter(|l| l.end.is_none()) {
                    if self
                        .recorder
                        .as_ref()
                        .is_some_and(|r| r.is_open(&loaded.id))
                    {
                        // Caught up with the segment being written: the present is live's.
                        self.ended = true;
                        return Ok(Some(ReplayItem::End));
                    }
                    // Finished meanwhile: its last fragment may have come since the last look.
                    loaded.end = Some(loaded.sent_until.unwrap_or(loaded.start));
                    if self.read_fragment().await? {
                        continue;
                    }
                }
                if let Some(done) = self.current.take() {
                    self.played_until = match done.end {
                        Some(end) => Some(end.max(done.sent_until.unwrap_or(end))),
                        None => done.sent_until,
                    };
                }
            }
            if self.queue.is_empty() {
                self.read_index().await?;
            }
            if self.queue.is_empty() {
                self.queue_unindexed();
            }
            let Some(source) = self.queue.pop_front() else {
                self.ended = true;
                return Ok(Some(ReplayItem::End));
            };
            self.load(source).await?;
        }
    }

    /// Reads the next window of the index (and, when it is empty, everything up to now: an
    /// outage may be longer than the window).
    async fn read_index(&mut self) -> Result<(), ReplayError> {
        let from = self.read_until;
        let mut found = self
            .segments(from, from + Duration::minutes(WINDOW_MINUTES))
            .await?;
        if found.is_empty() {
            found = self
                .segments(from, Utc::now() + Duration::minutes(1))
                .await?;
        }
        for segment in found {
            if self.last_start.is_some_and(|s| segment.start <= s) {
                continue;
            }
            self.last_start = Some(segment.start);
            self.read_until = self.read_until.max(segment.end);
            self.queue.push_back(Source::Indexed(segment));
        }
        Ok(())
    }

    /// Queues what the index does not have yet and starts after all queued so far: finished
    /// segments waiting for their row (the database slow or away), then the one being written.
    /// Left out, the former would be skipped: the index is read on from the latter.
    fn queue_unindexed(&mut self) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let unindexed = recorder.unindexed(&self.camera, Quality::Main);
        let read_until = self.read_until;
        let finished = unindexed
            .finished
            .into_iter()
            .filter(|(r, _)| DateTime::<Utc>::from(r.end) > read_until)
            .map(|(r, path)| (r.id, path, r.start))
            .collect::<Vec<_>>();
        let open = unindexed.open.map(|(o, path)| (o.id, path, o.start));
        for (id, path, start) in finished.into_iter().chain(open) {
            let start = DateTime::<Utc>::from(start);
            if self.last_start.is_some_and(|s| start <= s) {
                continue;
            }
            // Its row, once in, starts here: the index is read on from it and skips it.
            self.last_start = Some(start);
            self.read_until = self.read_until.max(start);
            self.queue.push_back(Source::Open { id, path, start });
        }
    }

    async fn segments(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Segment>, StoreError> {
        self.files
            .store()
            .recording_segments(&self.camera, MAIN, from, to)
            .await
    }

    /// Opens `source` (off the async threads), moves to the start position in the first one,
    /// and queues what comes before its frames: a gap since the last segment, an init segment
    /// when the parameters changed.
    async fn load(&mut self, source: Source) -> Result<(), ReplayError> {
        let (id, name, start, end, path) = match source {
            Source::Indexed(segment) => {
                let Some(path) = self
                    .files
                    .resolve(std::slice::from_ref(&segment.id))
                    .await?
                    .remove(&segment.id)
                else {
                    // Deleted by retention since it was listed: what follows is a gap.
                    return Ok(());
                };
                (
                    segment.id,
                    segment.path,
                    segment.start,
                    Some(segment.end),
                    path,
                )
            }
            Source::Open { id, path, start } => {
                let name = path.display().to_string();
                (id, name, start, None, path)
            }
        };
        let at = self.start_at.take().map(|at| ticks_since(start, at));
        let (mut reader, mut skip) = open_reader(path.clone(), at).await?;
        if skip.is_none() && end.is_none() {
            // A segment just begun, with no whole fragment yet. Passed over, it would be lost:
            // the next look for what follows (an index read, slow when the database is) may
            // come once it has finished and the next one begun, played after a silent jump.
            // Still being written: the replay has caught up with the present, which is live's.
            // Finished since it was opened: read again, whole now.
            if self.recorder.as_ref().is_some_and(|r| r.is_open(&id)) {
                self.ended = true;
                self.pending.push_back(ReplayItem::End);
                return Ok(());
            }
            (reader, skip) = open_reader(path, at).await?;
        }
        let Some(skip) = skip else {
            // No whole fragment with a keyframe: nothing to play here.
            return Ok(());
        };
        if let Some(until) = self.played_until {
            if (start - until).num_milliseconds() >= JOIN_WITHIN_MS {
                self.pending.push_back(ReplayItem::Gap {
                    from: until,
                    to: start,
                });
            }
        }
        let init = reader.init();
        let key = (init.codec.clone(), init.stsd.clone());
        if self.init_key.as_ref() != Some(&key) {
            self.pending.push_back(ReplayItem::Init {
                mime: format!("video/mp4; codecs=\"{}\"", init.codec),
                segment: reader.init_bytes().to_vec(),
            });
            self.init_key = Some(key);
        }
        self.current = Some(Loaded {
            id,
            name,
            start,
            end,
            reader: Some(reader),
            fragment: None,
            sample: 0,
            skip,
            sent_until: None,
        });
        Ok(())
    }

    /// Reads the current segment's next whole fragment (off the async threads); false at the
    /// end of what is written.
    async fn read_fragment(&mut self) -> Result<bool, ReplayError> {
        let Some(loaded) = self.current.as_mut() else {
            return Ok(false);
        };
        let Some(mut reader) = loaded.reader.take() else {
            return Ok(false);
        };
        let (reader, read) = tokio::task::spawn_blocking(move || {
            let read = reader.next_fragment();
            (reader, read)
        })
        .await
        .map_err(|e| ReplayError::Task(e.to_string()))?;
        loaded.reader = Some(reader);
        let read = read.map_err(|e| ReplayError::Scan {
            path: loaded.name.clone(),
            source: ScanError::Io(e),
        })?;
        Ok(match read {
            Some(fragment) => {
                loaded.fragment = Some(fragment);
                loaded.sample = std::mem::take(&mut loaded.skip);
                true
            }
            None => {
                loaded.fragment = None;
                false
            }
        })
    }

    /// The current fragment's next frame, as a media segment; `None` at its end.
    fn next_frame(&mut self) -> Result<Option<ReplayItem>, ReplayError> {
        let Some(loaded) = self.current.as_mut() else {
            return Ok(None);
        };
        let Some(fragment) = loaded.fragment.as_ref() else {
            return Ok(None);
        };
        let Some(sample) = fragment.samples.get(loaded.sample) else {
            return Ok(None);
        };
        let decode = fragment.decode_time_of(loaded.sample);
        loaded.sample += 1;
        let unreadable = |reason: &str| ReplayError::Unreadable {
            path: loaded.name.clone(),
            reason: reason.to_string(),
        };
        let data = fragment
            .bytes
            .get(sample.range.clone())
            .ok_or_else(|| unreadable("a sample beyond its fragment"))?;
        let duration = match sample.duration {
            0 => self.last_duration,
            d => d,
        };
        self.last_duration = duration;
        // A damaged (or planted) file's decode time may lie past any date: unreadable, not a
        // panic in the viewer's task.
        let beyond = || unreadable("a decode time beyond any date");
        let wall = loaded
            .start
            .checked_add_signed(ticks(decode))
            .ok_or_else(beyond)?;
        let sent_until = wall
            .checked_add_signed(ticks(u64::from(duration)))
            .ok_or_else(beyond)?;
        // Frames lost inside the segment (its row lists the hole): the media timeline runs on,
        // and the page is told, as between segments.
        let gap = loaded
            .sent_until
            .filter(|until| (wall - *until).num_milliseconds() > HOLE_LONGER_THAN_MS)
            .map(|from| ReplayItem::Gap { from, to: wall });
        let info = SampleInfo {
            decode_time: self.media,
            duration,
            is_keyframe: sample.is_keyframe,
        };
        let segment = media_segment(self.sequence, &info, Some(wall.into()), data)
            .map_err(|e| unreadable(&e.to_string()))?;
        loaded.sent_until = Some(sent_until);
        let media = self.media;
        self.media += u64::from(duration);
        self.sequence = self.sequence.wrapping_add(1);
        let frame = ReplayItem::Frame {
            media,
            duration,
            wall,
            segment,
        };
        Ok(Some(match gap {
            Some(gap) => {
                self.pending.push_back(frame);
                gap
            }
            None => frame,
        }))
    }
}

/// 90 kHz ticks as a duration.
fn ticks(t: u64) -> Duration {
    Duration::microseconds(i64::try_from(t.saturating_mul(100) / 9).unwrap_or(i64::MAX))
}

/// 90 kHz ticks from `start` to `at` (0 when `at` is before it).
fn ticks_since(start: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    let us = (at - start).num_microseconds().unwrap_or(i64::MAX).max(0);
    u64::try_from(us).unwrap_or(0).saturating_mul(9) / 100
}

/// Opens a segment file and, for the first segment played, moves to the last keyframe at or
/// before `at` (ticks from its start; the first keyframe when `at` is before them all). The
/// samples to skip in the first fragment read, `None` when no whole fragment holds a keyframe.
async fn open_reader(
    path: PathBuf,
    at: Option<u64>,
) -> Result<(FragmentReader, Option<usize>), ReplayError> {
    tokio::task::spawn_blocking(move || {
        let name = path.display().to_string();
        let scan = |source| ReplayError::Scan {
            path: name.clone(),
            source,
        };
        let mut reader = FragmentReader::open(&path).map_err(scan)?;
        // Later segments start at their first fragment, which the writer begins with a keyframe.
        let skip = reader
            .seek_keyframe(at.unwrap_or(0))
            .map_err(|e| scan(ScanError::Io(e)))?;
        Ok((reader, skip))
    })
    .await
    .map_err(|e| ReplayError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwatch_core::recording::RecordMode;
    use gridwatch_ingest::fmp4::{init_segment, VideoParams};
    use gridwatch_store::testing::fresh_store;
    use gridwatch_store::Backend;

    /// Frames of 0.2 s at `decode_times` (keyframes: the first and the fourth) with `avcc`'s
    /// parameters.
    fn file_of(avcc: &[u8], decode_times: [u64; 5]) -> Vec<u8> {
        let params = VideoParams::h264(640, 480, avcc.to_vec()).unwrap();
        let mut file = init_segment(&params);
        for (i, at) in decode_times.into_iter().enumerate() {
            let info = SampleInfo {
                decode_time: at,
                duration: 18_000,
                is_keyframe: i == 0 || i == 3,
            };
            let data = [0, 0, 0, 2, 0x65, i as u8];
            file.extend(media_segment(i as u32 + 1, &info, None, &data).unwrap());
        }
        file
    }

    /// Five frames of 0.2 s (keyframes at 0 and 3) with `avcc`'s parameters.
    fn segment_file(avcc: &[u8]) -> Vec<u8> {
        file_of(avcc, [0, 18_000, 36_000, 54_000, 72_000])
    }

    /// The media time and recorded wall clock of each frame of `items`.
    fn frames_of(items: &[ReplayItem]) -> Vec<(u64, DateTime<Utc>)> {
        items
            .iter()
            .filter_map(|i| match i {
                ReplayItem::Frame { media, wall, .. } => Some((*media, *wall)),
                _ => None,
            })
            .collect()
    }

    /// A store with directory `d` at `<tmp>/samples`, and the time the tests start from.
    async fn samples_store(tmp: &std::path::Path) -> (gridwatch_store::Store, DateTime<Utc>) {
        let store = fresh_store(Backend::Sqlite, tmp).await.unwrap();
        let samples = tmp.join("samples");
        std::fs::create_dir_all(&samples).unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        store
            .put_recording_dir("d", samples.to_str().unwrap(), None, t0)
            .await
            .unwrap();
        (store, t0)
    }

    /// Writes `bytes` as `<tmp>/samples/<name>` and indexes it (five frames) from `start` to
    /// `end` with `holes`.
    async fn add_segment(
        store: &gridwatch_store::Store,
        tmp: &std::path::Path,
        name: &str,
        bytes: &[u8],
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        holes: Vec<gridwatch_core::recording::Hole>,
    ) {
        std::fs::write(tmp.join("samples").join(name), bytes).unwrap();
        store
            .insert_recording_segment(&Segment {
                id: name.into(),
                camera_id: "c".into(),
                stream: MAIN.into(),
                mode: RecordMode::Continuous,
                dir_id: "d".into(),
                path: name.into(),
                start,
                end,
                bytes: bytes.len() as u64,
                frames: 5,
                sha256: "0".repeat(64),
                codec: "avc1".into(),
                width: 640,
                height: 480,
                holes,
            })
            .await
            .unwrap();
    }

    /// Replays one segment of `decode_times` (keyframes: the first and the fourth) recorded
    /// from `t0`, frames lost from 0.6 s to the fourth frame: what it sends, and `t0`.
    async fn replayed_with_a_hole(decode_times: [u64; 5]) -> (Vec<ReplayItem>, DateTime<Utc>) {
        let tmp = tempfile::tempdir().unwrap();
        let (store, t0) = samples_store(tmp.path()).await;
        let wall = |ticks: u64| t0 + Duration::microseconds(ticks as i64 * 100 / 9);
        let hole = gridwatch_core::recording::Hole {
            from: wall(54_000),
            to: wall(decode_times[3]),
        };
        add_segment(
            &store,
            tmp.path(),
            "h.mp4",
            &file_of(&BASELINE, decode_times),
            (t0, wall(decode_times[4] + 18_000)),
            vec![hole],
        )
        .await;
        let mut replay = Replay::open(SegmentFiles::local(store), None, "c", t0)
            .await
            .unwrap()
            .unwrap();
        let mut items = Vec::new();
        while let Some(item) = replay.next().await.unwrap() {
            items.push(item);
        }
        (items, t0)
    }

    #[tokio::test]
    async fn a_hole_inside_a_segment_is_told_and_skipped() {
        let (items, t0) = replayed_with_a_hole([0, 18_000, 36_000, 270_000, 288_000]).await;
        let ms = |n| t0 + Duration::milliseconds(n);
        let gap = ReplayItem::Gap {
            from: ms(600),
            to: ms(3000),
        };
        assert_eq!(items[4], gap, "{items:?}");
        let frames = frames_of(&items);
        // The media timeline runs on across the hole; the wall clock jumps it.
        assert_eq!(
            frames,
            [
                (0, t0),
                (18_000, ms(200)),
                (36_000, ms(400)),
                (54_000, ms(3000)),
                (72_000, ms(3200))
            ]
        );
        assert_eq!(
            items.len(),
            1 + 1 + 5 + 1,
            "init, gap, frames, end: {items:?}"
        );
    }

    /// A hole longer than a second is told though shorter than the join between segments
    /// (the holds an evidence clip lists); one of a second or less is not.
    #[tokio::test]
    async fn a_hole_of_over_a_second_is_told_and_a_shorter_one_is_not() {
        // Lost 0.6-1.9 s: told.
        let (items, t0) = replayed_with_a_hole([0, 18_000, 36_000, 171_000, 189_000]).await;
        let gaps: Vec<_> = items
            .iter()
            .filter(|i| matches!(i, ReplayItem::Gap { .. }))
            .collect();
        let ms = |n| t0 + Duration::milliseconds(n);
        assert_eq!(
            gaps,
            [&ReplayItem::Gap {
                from: ms(600),
                to: ms(1900)
            }],
            "{items:?}"
        );
        // Lost 0.6-1.5 s: not told (its frames still play, at their times).
        let (items, t0) = replayed_with_a_hole([0, 18_000, 36_000, 135_000, 153_000]).await;
        assert!(
            !items.iter().any(|i| matches!(i, ReplayItem::Gap { .. })),
            "{items:?}"
        );
        let ms = |n| t0 + Duration::milliseconds(n);
        assert_eq!(frames_of(&items)[3], (54_000, ms(1500)));
    }

    const BASELINE: [u8; 17] = [
        1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
    ];
    const MAIN_PROFILE: [u8; 17] = [
        1, 0x4D, 0x40, 0x1F, 0xFF, 0xE1, 0, 4, 0x67, 0x4D, 0x40, 0x1F, 1, 0, 2, 0x68, 0xCE,
    ];

    #[tokio::test]
    async fn boundaries_run_on_a_gap_is_told_and_new_parameters_bring_a_new_init() {
        let tmp = tempfile::tempdir().unwrap();
        let (store, t0) = samples_store(tmp.path()).await;
        // a and b back to back, then 3 s of nothing, then c with other parameters.
        let files = [
            ("a.mp4", 0, &BASELINE),
            ("b.mp4", 1000, &BASELINE),
            ("c.mp4", 5000, &MAIN_PROFILE),
        ];
        for (name, start_ms, avcc) in files {
            let start = t0 + Duration::milliseconds(start_ms);
            let range = (start, start + Duration::milliseconds(1000));
            add_segment(&store, tmp.path(), name, &segment_file(avcc), range, vec![]).await;
        }
        assert!(Replay::open(
            SegmentFiles::local(store.clone()),
            None,
            "c",
            t0 + Duration::hours(1)
        )
        .await
        .unwrap()
        .is_none());

        // From 0.7 s: the keyframe at 0.6 s is where it starts.
        let mut replay = Replay::open(
            SegmentFiles::local(store),
            None,
            "c",
            t0 + Duration::milliseconds(700),
        )
        .await
        .unwrap()
        .unwrap();
        let mut items = Vec::new();
        while let Some(item) = replay.next().await.unwrap() {
            items.push(item);
        }
        let kinds: String = items
            .iter()
            .map(|i| match i {
                ReplayItem::Init { .. } => 'I',
                ReplayItem::Gap { .. } => 'G',
                ReplayItem::Frame { .. } => 'f',
                ReplayItem::End => 'E',
            })
            .collect();
        assert_eq!(kinds, "IfffffffGIfffffE");
        let ReplayItem::Init { mime, .. } = &items[0] else {
            unreachable!()
        };
        assert_eq!(mime, "video/mp4; codecs=\"avc1.42C01E\"");
        let ReplayItem::Init { mime, segment } = &items[9] else {
            unreachable!()
        };
        assert_eq!(mime, "video/mp4; codecs=\"avc1.4D401F\"");
        assert_eq!(&segment[4..8], b"ftyp");
        assert_eq!(
            items[8],
            ReplayItem::Gap {
                from: t0 + Duration::milliseconds(2000),
                to: t0 + Duration::milliseconds(5000),
            }
        );
        // One media timeline from 0, frame after frame; the wall clock as recorded.
        let frames = frames_of(&items);
        for (n, (media, _)) in frames.iter().enumerate() {
            assert_eq!(*media, n as u64 * 18_000);
        }
        assert_eq!(frames[0].1, t0 + Duration::milliseconds(600));
        assert_eq!(frames[2].1, t0 + Duration::milliseconds(1000));
        assert_eq!(frames[7].1, t0 + Duration::milliseconds(5000));
    }
}
