//! Retention: which recorded segments to delete, by age and by space, and when a directory
//! must stop recording because only locked (evidence) data is left to delete.
//!
//! Pure: the store gives the oldest segments of each directory (with whether a lock covers
//! them) and how full each directory is, and gets back what to delete. The rules:
//!
//! * **Age**: a segment older than its camera's retention days (default 30) goes; a segment
//!   recorded in `incidents` mode is only a pre-event buffer and goes after `pre_buffer`.
//! * **Space**: while a directory holds more than its `max_bytes`, or its disk has less than
//!   `min_free_bytes` free, its oldest segments go, oldest first, whatever their age.
//! * **Locks**: a segment a lock covers is never deleted, by age or by space. When a
//!   directory still lacks space once every unlocked segment is gone, it is **held**:
//!   recording stops there and the duty officers are told, rather than evidence being deleted.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::RecordMode;

/// How long recordings are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Days a continuous recording is kept, unless its camera says otherwise. Default 30.
    pub default_days: u32,
    /// Per-camera overrides.
    pub camera_days: HashMap<String, u32>,
    /// How long an `incidents`-mode segment is kept unless locked. Default 5 minutes.
    pub pre_buffer: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            default_days: 30,
            camera_days: HashMap::new(),
            pre_buffer: Duration::minutes(5),
        }
    }
}

impl RetentionPolicy {
    /// How long a segment of `camera_id` recorded in `mode` is kept.
    pub fn keep_for(&self, camera_id: &str, mode: RecordMode) -> Duration {
        match mode {
            RecordMode::Incidents => self.pre_buffer,
            _ => Duration::days(i64::from(
                *self
                    .camera_days
                    .get(camera_id)
                    .unwrap_or(&self.default_days),
            )),
        }
    }

    /// Before when, at `now`, a segment must have started for age to make it due: one
    /// recorded in `incidents` mode, and any other (by the shortest retention of any camera).
    /// A segment that started later is not due, whatever its camera (it ends after it starts).
    pub fn due_before(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let days = self.all_days().min().unwrap_or(self.default_days);
        (now - Duration::days(i64::from(days)), now - self.pre_buffer)
    }

    /// The days of every camera's retention, and the default.
    fn all_days(&self) -> impl Iterator<Item = u32> + '_ {
        self.camera_days
            .values()
            .copied()
            .chain([self.default_days])
    }

    /// The longest any unlocked recording is kept: beyond it nothing but locked (evidence)
    /// segments is left, so an incident raised earlier has nothing left to clip.
    pub fn longest(&self) -> Duration {
        let days = self.all_days().max().unwrap_or(self.default_days);
        Duration::days(i64::from(days)).max(self.pre_buffer)
    }
}

/// A segment retention may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub camera_id: String,
    pub dir_id: String,
    pub path: String,
    pub mode: RecordMode,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub bytes: u64,
    /// An active lock covers it.
    pub locked: bool,
}

/// How full a sample-file directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirUsage {
    pub dir_id: String,
    /// Bytes of its indexed segments.
    pub used_bytes: u64,
    /// Free bytes on its disk, if measured.
    pub free_bytes: Option<u64>,
    /// Most bytes its segments may take; `None` for no limit.
    pub max_bytes: Option<u64>,
    pub min_free_bytes: u64,
    /// The candidates given are all its segments (not only the oldest ones): if they do not
    /// free enough, nothing will.
    pub complete: bool,
}

impl DirUsage {
    /// Bytes to free now.
    pub fn shortfall(&self) -> u64 {
        let over_max = self
            .max_bytes
            .map_or(0, |max| self.used_bytes.saturating_sub(max));
        let under_free = self
            .free_bytes
            .map_or(0, |free| self.min_free_bytes.saturating_sub(free));
        over_max.max(under_free)
    }
}

/// Why a segment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    Age,
    Space,
}

/// A directory that must stop recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub dir_id: String,
    /// Bytes that could not be freed.
    pub short_bytes: u64,
    /// For the duty officers.
    pub reason: String,
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Oldest first.
    pub delete: Vec<(Candidate, DeleteReason)>,
    /// Directories to hold; every other directory given is to be released.
    pub holds: Vec<Hold>,
}

impl RetentionPlan {
    pub fn bytes(&self, reason: DeleteReason) -> u64 {
        self.delete
            .iter()
            .filter(|(_, r)| *r == reason)
            .map(|(c, _)| c.bytes)
            .sum()
    }
}

/// Decides what to delete; see the module documentation.
pub fn plan(
    policy: &RetentionPolicy,
    dirs: &[DirUsage],
    candidates: &[Candidate],
    now: DateTime<Utc>,
) -> RetentionPlan {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let mut out = RetentionPlan::default();
    let mut gone: HashSet<&str> = HashSet::new();
    let mut freed: HashMap<&str, u64> = HashMap::new();
    for c in &sorted {
        if !c.locked && c.end <= now - policy.keep_for(&c.camera_id, c.mode) {
            gone.insert(&c.id);
            *freed.entry(&c.dir_id).or_default() += c.bytes;
            out.delete.push(((*c).clone(), DeleteReason::Age));
        }
    }
    for dir in dirs {
        let mut short = dir
            .shortfall()
            .saturating_sub(*freed.get(dir.dir_id.as_str()).unwrap_or(&0));
        for c in sorted.iter().filter(|c| c.dir_id == dir.dir_id) {
            if short == 0 {
                break;
            }
            if c.locked || gone.contains(c.id.as_str()) {
                continue;
            }
            gone.insert(&c.id);
            short = short.saturating_sub(c.bytes);
            out.delete.push(((*c).clone(), DeleteReason::Space));
        }
        if short > 0 && dir.complete {
            out.holds.push(Hold {
                dir_id: dir.dir_id.clone(),
                short_bytes: short,
                reason: format!(
                    "only locked recordings (evidence) are left and {short} more bytes are \
                     needed: recording stopped here"
                ),
            });
        }
    }
    out.delete
        .sort_by(|(a, _), (b, _)| (a.start, &a.id).cmp(&(b.start, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A minute-long segment of camera `cam` starting `minutes_ago` before t0.
    fn seg(id: &str, cam: &str, dir: &str, minutes_ago: i64, bytes: u64) -> Candidate {
        let start = t0() - Duration::minutes(minutes_ago);
        Candidate {
            id: id.into(),
            camera_id: cam.into(),
            dir_id: dir.into(),
            path: format!("{id}.mp4"),
            mode: RecordMode::Continuous,
            start,
            end: start + Duration::minutes(1),
            bytes,
            locked: false,
        }
    }

    fn usage(dir: &str, used: u64, max: Option<u64>) -> DirUsage {
        DirUsage {
            dir_id: dir.into(),
            used_bytes: used,
            free_bytes: Some(1 << 40),
            max_bytes: max,
            min_free_bytes: 0,
            complete: true,
        }
    }

    #[test]
    fn the_longest_keep_is_the_largest_of_the_default_and_every_camera() {
        let mut policy = RetentionPolicy::default();
        assert_eq!(policy.longest(), Duration::days(30));
        policy.camera_days.insert("a".into(), 7);
        assert_eq!(policy.longest(), Duration::days(30));
        policy.camera_days.insert("b".into(), 400);
        assert_eq!(policy.longest(), Duration::days(400));
        assert_eq!(
            policy.longest(),
            policy.keep_for("b", RecordMode::Continuous)
        );
    }

    #[test]
    fn due_before_is_the_shortest_keep_of_each_kind() {
        let mut policy = RetentionPolicy::default();
        assert_eq!(
            policy.due_before(t0()),
            (t0() - Duration::days(30), t0() - Duration::minutes(5))
        );
        policy.camera_days.insert("a".into(), 7);
        policy.camera_days.insert("b".into(), 400);
        let (kept_before, buffer_before) = policy.due_before(t0());
        assert_eq!(kept_before, t0() - Duration::days(7));
        // Nothing due by `plan` started after it.
        for (camera, mode) in [
            ("a", RecordMode::Continuous),
            ("b", RecordMode::Continuous),
            ("z", RecordMode::Continuous),
            ("a", RecordMode::Incidents),
        ] {
            let before = match mode {
                RecordMode::Incidents => buffer_before,
                _ => kept_before,
            };
            assert!(
                t0() - policy.keep_for(camera, mode) <= before,
                "{camera} {mode:?}"
            );
        }
    }

    fn ids(plan: &RetentionPlan, reason: DeleteReason) -> Vec<&str> {
        plan.delete
            .iter()
            .filter(|(_, r)| *r == reason)
            .map(|(c, _)| c.id.as_str())
            .collect()
    }

    const DAY: i64 = 24 * 60;

    #[test]
    fn age_follows_each_cameras_days_and_spares_locks() {
        let mut policy = RetentionPolicy::default();
        policy.camera_days.insert("short".into(), 7);
        let mut locked = seg("old-locked", "a", "d", 40 * DAY, 10);
        locked.locked = true;
        let segments = [
            seg("old", "a", "d", 31 * DAY, 10),
            seg("young", "a", "d", 29 * DAY, 10),
            seg("short-old", "short", "d", 8 * DAY, 10),
            seg("short-young", "short", "d", 6 * DAY, 10),
            locked,
        ];
        let plan = plan(&policy, &[usage("d", 50, None)], &segments, t0());
        assert_eq!(ids(&plan, DeleteReason::Age), ["old", "short-old"]);
        assert!(ids(&plan, DeleteReason::Space).is_empty());
        assert!(plan.holds.is_empty());
    }

    #[test]
    fn a_segment_is_kept_until_its_end_is_old_enough() {
        let policy = RetentionPolicy::default();
        // Ends exactly 30 days ago: goes; ends a minute later: stays.
        let boundary = seg("edge", "a", "d", 30 * DAY + 1, 1);
        let inside = seg("inside", "a", "d", 30 * DAY, 1);
        let plan = plan(&policy, &[], &[boundary, inside], t0());
        assert_eq!(ids(&plan, DeleteReason::Age), ["edge"]);
    }

    #[test]
    fn incidents_mode_segments_are_a_pre_event_buffer() {
        let policy = RetentionPolicy::default();
        let mut buffer_old = seg("buffer-old", "a", "d", 7, 10);
        buffer_old.mode = RecordMode::Incidents;
        let mut buffer_new = seg("buffer-new", "a", "d", 3, 10);
        buffer_new.mode = RecordMode::Incidents;
        let mut kept = seg("evidence", "a", "d", 60, 10);
        kept.mode = RecordMode::Incidents;
        kept.locked = true;
        let plan = plan(&policy, &[], &[buffer_old, buffer_new, kept], t0());
        assert_eq!(ids(&plan, DeleteReason::Age), ["buffer-old"]);
    }

    #[test]
    fn space_takes_the_oldest_unlocked_first() {
        let policy = RetentionPolicy::default();
        let mut locked = seg("s1", "a", "d", 50, 100);
        locked.locked = true;
        let segments = [
            locked,
            seg("s2", "b", "d", 40, 100),
            seg("s3", "a", "d", 30, 100),
            seg("s4", "a", "d", 20, 100),
            seg("other-dir", "a", "e", 60, 100),
        ];
        // 400 in d, at most 250: 150 to free -> s2 and s3.
        let dirs = [usage("d", 400, Some(250)), usage("e", 100, Some(1000))];
        let plan = plan(&policy, &dirs, &segments, t0());
        assert_eq!(ids(&plan, DeleteReason::Space), ["s2", "s3"]);
        assert!(plan.holds.is_empty());
        assert_eq!(plan.bytes(DeleteReason::Space), 200);
    }

    #[test]
    fn low_free_space_frees_what_is_missing_counting_age_deletions() {
        let policy = RetentionPolicy::default();
        let segments = [
            seg("ancient", "a", "d", 40 * DAY, 300),
            seg("s2", "a", "d", 40, 300),
            seg("s3", "a", "d", 30, 300),
        ];
        let dirs = [DirUsage {
            free_bytes: Some(100),
            min_free_bytes: 500,
            ..usage("d", 900, None)
        }];
        let plan = plan(&policy, &dirs, &segments, t0());
        // 400 short; age frees 300; one more for the rest.
        assert_eq!(ids(&plan, DeleteReason::Age), ["ancient"]);
        assert_eq!(ids(&plan, DeleteReason::Space), ["s2"]);
    }

    #[test]
    fn only_locked_data_left_holds_the_directory() {
        let policy = RetentionPolicy::default();
        let mut a = seg("a", "c", "d", 20, 100);
        a.locked = true;
        let b = seg("b", "c", "d", 10, 100);
        let dirs = [usage("d", 200, Some(50))];
        let plan = plan(&policy, &dirs, &[a.clone(), b.clone()], t0());
        assert_eq!(ids(&plan, DeleteReason::Space), ["b"]);
        assert_eq!(plan.holds.len(), 1);
        assert_eq!(plan.holds[0].dir_id, "d");
        assert_eq!(plan.holds[0].short_bytes, 50);
        assert!(plan.holds[0].reason.contains("locked"));

        // Not all candidates were given: the next run goes on instead of holding.
        let partial = [DirUsage {
            complete: false,
            ..dirs[0].clone()
        }];
        assert!(super::plan(&policy, &partial, &[a, b], t0())
            .holds
            .is_empty());
    }

    #[test]
    fn nothing_to_do_is_an_empty_plan() {
        let plan = plan(
            &RetentionPolicy::default(),
            &[usage("d", 100, Some(1000))],
            &[seg("s", "a", "d", 10, 100)],
            t0(),
        );
        assert_eq!(plan, RetentionPlan::default());
    }
}
