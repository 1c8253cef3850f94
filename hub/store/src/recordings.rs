//! Recording: sample-file directories, the segments in them, the locks incidents put on
//! their time ranges, and evidence clips.
//!
//! The recorder (in the ingest) writes a segment's row only after the file is synced, and
//! deletes by marking rows `deleting`, unlinking, then removing the rows; these queries are
//! its side of that protocol (through the hub's `SegmentIndex`), and what retention, playback
//! and evidence read.

use crate::changes::placeholders;
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::recording::retention::Candidate;
use gridwatch_core::recording::{EvidenceClip, Hole, RecordMode, RecordingLock, Segment};
use sqlx::AssertSqlSafe;

/// Rows changed per statement when many are: well under both engines' bind limits.
const CHUNK: usize = 500;

/// A sample-file directory as last opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingDir {
    pub id: String,
    pub path: String,
}

/// The lease a worker held on a segment's camera when it wrote the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFence {
    pub worker_id: String,
    pub epoch: i64,
}

/// Where a segment is and what it must be ([`Store::recording_segment_sources`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentSource {
    pub id: String,
    pub dir_id: String,
    /// The directory's node: `None` for the in-process hub, else the ingest worker's name.
    pub node: Option<String>,
    /// That node's address as an ingest worker (`None`: no such worker registered).
    pub address: Option<String>,
    /// The directory's path on its node, and the segment's path in it.
    pub dir_path: String,
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What [`Store::insert_recording_segment_fenced`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The row is there (written now, or by an earlier attempt).
    Indexed,
    /// Refused: another worker had taken the camera over before the segment ended.
    Fenced,
}

/// What start-up repair compares with a directory's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub id: String,
    pub path: String,
    pub bytes: u64,
    pub deleting: bool,
}

/// The bytes and number of a directory's segments (those being deleted left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirBytes {
    pub dir_id: String,
    pub bytes: u64,
    pub segments: u64,
}

/// A camera's recording settings (the `record` and `retention_days` columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraRecording {
    pub camera_id: String,
    pub mode: RecordMode,
    pub retention_days: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct SegmentRow {
    id: String,
    camera_id: String,
    stream: String,
    mode: String,
    dir_id: String,
    path: String,
    start_ms: i64,
    end_ms: i64,
    bytes: i64,
    frames: i64,
    sha256: String,
    codec: String,
    width: i32,
    height: i32,
    /// JSON: `[[from_ms, to_ms], ...]`.
    holes: String,
}

fn mode(id: &str, stored: &str) -> RecordMode {
    RecordMode::parse(stored).unwrap_or_else(|| {
        tracing::warn!(segment = %id, mode = %stored, "stored record mode unusable");
        RecordMode::Continuous
    })
}

impl From<SegmentRow> for Segment {
    fn from(r: SegmentRow) -> Segment {
        Segment {
            mode: mode(&r.id, &r.mode),
            holes: holes_from_json(&r.id, &r.holes),
            id: r.id,
            camera_id: r.camera_id,
            stream: r.stream,
            dir_id: r.dir_id,
            path: r.path,
            start: from_ms(r.start_ms),
            end: from_ms(r.end_ms),
            bytes: r.bytes.max(0) as u64,
            frames: r.frames.max(0) as u64,
            sha256: r.sha256,
            codec: r.codec,
            width: r.width.max(0) as u32,
            height: r.height.max(0) as u32,
        }
    }
}

/// A row's holes as stored: `[[from_ms, to_ms], ...]`.
fn holes_json(holes: &[Hole]) -> String {
    let pairs: Vec<[i64; 2]> = holes.iter().map(|h| [to_ms(h.from), to_ms(h.to)]).collect();
    serde_json::to_string(&pairs).expect("numbers serialize")
}

/// The holes stored in row `id`; none (and a warning) if they do not parse: the segment is
/// then shown as video throughout, which playback corrects by skipping where there is none.
fn holes_from_json(id: &str, stored: &str) -> Vec<Hole> {
    match serde_json::from_str::<Vec<[i64; 2]>>(stored) {
        Ok(pairs) => pairs
            .into_iter()
            .map(|[from, to]| Hole {
                from: from_ms(from),
                to: from_ms(to),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(segment = %id, error = %e, "stored segment holes unusable");
            Vec::new()
        }
    }
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: String,
    camera_id: String,
    dir_id: String,
    path: String,
    mode: String,
    start_ms: i64,
    end_ms: i64,
    bytes: i64,
    locked: bool,
}

impl From<CandidateRow> for Candidate {
    fn from(r: CandidateRow) -> Candidate {
        Candidate {
            mode: mode(&r.id, &r.mode),
            id: r.id,
            camera_id: r.camera_id,
            dir_id: r.dir_id,
            path: r.path,
            start: from_ms(r.start_ms),
            end: from_ms(r.end_ms),
            bytes: r.bytes.max(0) as u64,
            locked: r.locked,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LockRow {
    id: String,
    camera_id: String,
    from_ms: i64,
    to_ms: i64,
    incident_id: Option<String>,
    until_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClipRow {
    id: String,
    incident_id: String,
    camera_id: String,
    from_ms: i64,
    to_ms: i64,
    file: String,
    bytes: i64,
    sha256: String,
    manifest_seq: i64,
    manifest_file: String,
    manifest_sha256: String,
    created_at: i64,
}

impl From<ClipRow> for EvidenceClip {
    fn from(r: ClipRow) -> EvidenceClip {
        EvidenceClip {
            id: r.id,
            incident_id: r.incident_id,
            camera_id: r.camera_id,
            from: from_ms(r.from_ms),
            to: from_ms(r.to_ms),
            file: r.file,
            bytes: r.bytes.max(0) as u64,
            sha256: r.sha256,
            manifest_seq: r.manifest_seq.max(0) as u64,
            manifest_file: r.manifest_file,
            manifest_sha256: r.manifest_sha256,
            created_at: from_ms(r.created_at),
        }
    }
}

const SEGMENT_COLUMNS: &str = "id, camera_id, stream, mode, dir_id, path, start_ms, end_ms, \
     bytes, frames, sha256, codec, width, height, holes";

/// A start earlier than any segment's: no lower bound.
const NO_BOUND: i64 = i64::MIN / 2;

/// Adds `$2` bytes and `$3` segments (negative: takes them) to directory `$1`'s usage.
const ADD_USAGE: &str = "INSERT INTO recording_dir_usage (dir_id, bytes, segments) \
     VALUES ($1, $2, $3) ON CONFLICT (dir_id) DO UPDATE SET \
     bytes = recording_dir_usage.bytes + excluded.bytes, \
     segments = recording_dir_usage.segments + excluded.segments";

/// Takes `rows` (`dir_id, bytes, deleting` as they were before they went) out of their
/// directories' usage, in the transaction `tx` (of either backend).
macro_rules! take_from_usage {
    ($tx:ident, $rows:expr) => {
        for (dir_id, (bytes, segments)) in uncounted($rows) {
            sqlx::query(ADD_USAGE)
                .bind(dir_id)
                .bind(-bytes)
                .bind(-segments)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// The bytes and segments by directory of `rows` (`dir_id, bytes, deleting` as they were
/// before a change) that its usage still counted: those not already being deleted.
fn uncounted(rows: Vec<(String, i64, bool)>) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut by_dir = std::collections::BTreeMap::new();
    for (dir_id, bytes, _) in rows.into_iter().filter(|(_, _, deleting)| !deleting) {
        let (b, n) = by_dir.entry(dir_id).or_insert((0, 0));
        *b += bytes;
        *n += 1;
    }
    by_dir
}

/// An active lock of the segment's camera over its time range, at `$2` (ms).
const LOCKED: &str = "EXISTS (SELECT 1 FROM recording_locks l WHERE l.camera_id = s.camera_id \
     AND l.from_ms < s.end_ms AND l.to_ms > s.start_ms \
     AND (l.until_ms IS NULL OR l.until_ms > $2))";

impl Store {
    /// Registers a sample-file directory of `node` (`None`: the in-process hub), or records
    /// where it is now and which node opened it last (a disk moved to another machine).
    ///
    /// Its usage is counted again from its rows, in the same transaction: the counters are
    /// kept with every change, but a binary from before them (an ingest worker not yet
    /// upgraded) wrote rows without, and nothing else would ever correct the drift. The
    /// directory is opened (and locked on its disk) by one process, before it records, so no
    /// row of it changes meanwhile; the count reads its rows once per start.
    pub async fn put_recording_dir(
        &self,
        id: &str,
        path: &str,
        node: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO recording_dirs (id, path, node, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET path = excluded.path, node = excluded.node, \
                 updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(path)
            .bind(node)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO recording_dir_usage (dir_id, bytes, segments) \
                 SELECT $1, COALESCE(SUM(bytes), 0), COUNT(*) FROM recording_segments \
                 WHERE dir_id = $1 AND NOT deleting \
                 ON CONFLICT (dir_id) DO UPDATE SET bytes = excluded.bytes, \
                 segments = excluded.segments",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn recording_dir(&self, id: &str) -> Result<Option<RecordingDir>, StoreError> {
        let row: Option<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT id, path FROM recording_dirs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(id, path)| RecordingDir { id, path }))
    }

    /// Whether a directory last opened at `path` on `node` (`None`: the in-process hub) has
    /// segments indexed (if its meta file is gone, its disk is probably not mounted). Another
    /// node's directory at the same path is another machine's disk, and does not count.
    pub async fn recording_dir_at_path_has_segments(
        &self,
        path: &str,
        node: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM recording_segments s \
                 JOIN recording_dirs d ON d.id = s.dir_id \
                 WHERE d.path = $1 AND COALESCE(d.node, '') = $2",
            )
            .bind(path)
            .bind(node.unwrap_or(""))
            .fetch_one(p)
            .await?
        });
        Ok(n > 0)
    }

    /// Adds a finished segment; one whose ID is already there is left as it is (a retry).
    pub async fn insert_recording_segment(&self, s: &Segment) -> Result<(), StoreError> {
        self.insert_recording_segment_fenced(s, None).await?;
        Ok(())
    }

    /// Adds a finished segment written under `fence` (the lease its worker held), in one
    /// statement: the row is refused when a later holder of the camera had claimed it before
    /// the segment ended (the fencing-token rule). A segment that ended before the next claim
    /// is kept, so a worker that gives a camera back does not lose its last segment, which is
    /// indexed after the release. Two takeovers or more since the fence refuse outright. A
    /// camera deleted since (its lease gone with it) keeps its final segment. `None` (the
    /// in-process hub, start-up repair): no fence, the row's worker and epoch `NULL` — the
    /// comparisons with a `NULL` epoch match no lease, so the row is always added.
    ///
    /// The segment's end (the writer's clock) is compared with `claimed_at` (the claiming
    /// worker's clock): the clocks are assumed in step, as the leases themselves assume.
    pub async fn insert_recording_segment_fenced(
        &self,
        s: &Segment,
        fence: Option<&SegmentFence>,
    ) -> Result<Inserted, StoreError> {
        // In one transaction: the stream's longest first (a row is never there before the
        // bound that finds it), the row, and its directory's usage if the row went in.
        let length = to_ms(s.end).saturating_sub(to_ms(s.start)).max(0);
        let sql = format!(
            "INSERT INTO recording_segments ({SEGMENT_COLUMNS}, worker_id, epoch) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 \
             WHERE NOT EXISTS (SELECT 1 FROM camera_leases l WHERE l.camera_id = $2 \
             AND (l.epoch > $17 + 1 OR (l.epoch = $17 + 1 AND l.claimed_at < $8))) \
             ON CONFLICT (id) DO NOTHING"
        );
        let written = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO recording_longest (camera_id, stream, longest_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (camera_id, stream) DO UPDATE SET longest_ms = excluded.longest_ms \
                 WHERE recording_longest.longest_ms < excluded.longest_ms",
            )
            .bind(&s.camera_id)
            .bind(&s.stream)
            .bind(length)
            .execute(&mut *tx)
            .await?;
            let written = sqlx::query(AssertSqlSafe(sql))
                .bind(&s.id)
                .bind(&s.camera_id)
                .bind(&s.stream)
                .bind(s.mode.as_str())
                .bind(&s.dir_id)
                .bind(&s.path)
                .bind(to_ms(s.start))
                .bind(to_ms(s.end))
                .bind(s.bytes as i64)
                .bind(s.frames as i64)
                .bind(&s.sha256)
                .bind(&s.codec)
                .bind(s.width as i32)
                .bind(s.height as i32)
                .bind(holes_json(&s.holes))
                .bind(fence.map(|f| f.worker_id.as_str()))
                .bind(fence.map(|f| f.epoch))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if written == 1 {
                sqlx::query(ADD_USAGE)
                    .bind(&s.dir_id)
                    .bind(s.bytes as i64)
                    .bind(1_i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            written
        });
        if written == 1 || fence.is_none() {
            // Unfenced, nothing written means the row was there already (a retry).
            return Ok(Inserted::Indexed);
        }
        // Nothing written: a retry of a row already there (its answer was lost), or fenced.
        let there: i64 = with_pool!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM recording_segments WHERE id = $1")
                .bind(&s.id)
                .fetch_one(p)
                .await?
        });
        Ok(if there > 0 {
            Inserted::Indexed
        } else {
            Inserted::Fenced
        })
    }

    /// The lease a segment was indexed under (`None` for an unfenced row or no such row).
    pub async fn recording_segment_fence(
        &self,
        id: &str,
    ) -> Result<Option<SegmentFence>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, p => {
            sqlx::query_as("SELECT worker_id, epoch FROM recording_segments WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(match row {
            Some((Some(worker_id), Some(epoch))) => Some(SegmentFence { worker_id, epoch }),
            _ => None,
        })
    }

    /// Every segment row of a directory, those being deleted included.
    pub async fn recording_files_in_dir(
        &self,
        dir_id: &str,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        let rows: Vec<(String, String, i64, bool)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, path, bytes, deleting FROM recording_segments WHERE dir_id = $1",
            )
            .bind(dir_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, path, bytes, deleting)| SegmentFile {
                id,
                path,
                bytes: bytes.max(0) as u64,
                deleting,
            })
            .collect())
    }

    /// Marks segments as being deleted: no longer listed, finished by start-up repair.
    pub async fn mark_recording_segments_deleting(&self, ids: &[String]) -> Result<(), StoreError> {
        self.by_ids(
            "UPDATE recording_segments SET deleting = TRUE WHERE NOT deleting AND id IN",
            "dir_id, bytes, FALSE",
            ids,
        )
        .await
    }

    /// Removes segments' rows.
    pub async fn remove_recording_segments(&self, ids: &[String]) -> Result<(), StoreError> {
        self.by_ids(
            "DELETE FROM recording_segments WHERE id IN",
            "dir_id, bytes, deleting",
            ids,
        )
        .await
    }

    /// Runs `statement` (ending `… id IN`) on the rows of `ids`, a chunk per transaction, and
    /// takes the rows it `returning` (`dir_id, bytes, deleting` as they were) that were still
    /// counted out of their directories' usage.
    async fn by_ids(
        &self,
        statement: &str,
        returning: &str,
        ids: &[String],
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "{statement} {} RETURNING {returning}",
                placeholders(1, chunk.len())
            );
            with_pool!(self, p => {
                let mut tx = p.begin().await?;
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                let rows: Vec<(String, i64, bool)> = q.fetch_all(&mut *tx).await?;
                take_from_usage!(tx, rows);
                tx.commit().await?;
            });
        }
        Ok(())
    }

    /// Takes the segments of node `id`'s directories out of the index, once the worker itself
    /// is forgotten ([`Store::forget_ingest_worker`]): a machine lost with its disks, whose
    /// recordings would otherwise be listed, and waited for by evidence clips, for ever.
    /// Returns how many rows went.
    ///
    /// A chunk of rows per transaction, so that a month of a worker's cameras never holds the
    /// database's writers (on SQLite, everyone's) for long, each with its directories' usage;
    /// each chunk only while no worker of that name is registered, so a worker back meanwhile
    /// keeps what is left. The files, if the disks come back, are indexed again by the
    /// worker's start-up repair.
    pub async fn forget_worker_recordings(&self, id: &str) -> Result<u64, StoreError> {
        const CHUNK_ROWS: i64 = 5000;
        let mut gone = 0;
        loop {
            let n = with_pool!(self, p => {
                let mut tx = p.begin().await?;
                let rows: Vec<(String, i64, bool)> = sqlx::query_as(
                    "DELETE FROM recording_segments WHERE id IN (SELECT s.id \
                     FROM recording_segments s JOIN recording_dirs d ON d.id = s.dir_id \
                     WHERE d.node = $1 LIMIT $2) \
                     AND NOT EXISTS (SELECT 1 FROM ingest_workers WHERE id = $1) \
                     RETURNING dir_id, bytes, deleting",
                )
                .bind(id)
                .bind(CHUNK_ROWS)
                .fetch_all(&mut *tx)
                .await?;
                let n = rows.len() as u64;
                take_from_usage!(tx, rows);
                tx.commit().await?;
                n
            });
            gone += n;
            if n == 0 {
                return Ok(gone);
            }
        }
    }

    /// Every camera's recording settings: whether its main stream is recorded, and its
    /// retention days (`None`: the configured default). Read by the camera sync (the mode)
    /// and by each retention pass (the days), so an API change needs no restart.
    pub async fn camera_recording_settings(&self) -> Result<Vec<CameraRecording>, StoreError> {
        let rows: Vec<(String, String, Option<i64>)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, record, CAST(retention_days AS BIGINT) FROM cameras ORDER BY id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(camera_id, record, days)| CameraRecording {
                mode: mode(&camera_id, &record),
                retention_days: days.and_then(|d| u32::try_from(d).ok()),
                camera_id,
            })
            .collect())
    }

    /// A camera stream's segments that overlap `[from, to)`, in time order.
    ///
    /// The index is by start: a segment that overlaps `from` started at most the stream's
    /// longest segment before it, so the scan starts there rather than at the camera's oldest
    /// row (a month of them, near now).
    pub async fn recording_segments(
        &self,
        camera_id: &str,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Segment>, StoreError> {
        // One statement, so one snapshot: a longer segment committed between reading the
        // bound and reading the rows cannot fall outside it. No longest row: a stream with
        // no segment, or rows from a binary before the bound (an ingest worker not yet
        // upgraded) — then no bound, rather than missing them.
        let sql = format!(
            "SELECT {SEGMENT_COLUMNS} FROM recording_segments \
             WHERE camera_id = $1 AND stream = $2 AND start_ms < $4 AND end_ms > $3 \
             AND start_ms >= COALESCE((SELECT $3 - longest_ms FROM recording_longest \
             WHERE camera_id = $1 AND stream = $2), {NO_BOUND}) \
             AND NOT deleting ORDER BY start_ms, id"
        );
        let rows: Vec<SegmentRow> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(camera_id)
                .bind(stream)
                .bind(to_ms(from))
                .bind(to_ms(to))
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(Segment::from).collect())
    }

    /// Where segments are: `(id, directory path, relative path)` of those of `ids` still
    /// indexed.
    pub async fn recording_segment_paths(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT s.id, d.path, s.path FROM recording_segments s \
                 JOIN recording_dirs d ON d.id = s.dir_id \
                 WHERE NOT s.deleting AND s.id IN {}",
                placeholders(1, chunk.len())
            );
            let mut rows: Vec<(String, String, String)> = with_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.append(&mut rows);
        }
        Ok(out)
    }

    /// Where segments are and what they must be, for a reader that may have to fetch them from
    /// the node that recorded them: those of `ids` still indexed.
    pub async fn recording_segment_sources(
        &self,
        ids: &[String],
    ) -> Result<Vec<SegmentSource>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            i64,
            String,
        );
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT s.id, s.dir_id, d.node, w.address, d.path, s.path, s.bytes, s.sha256 \
                 FROM recording_segments s \
                 JOIN recording_dirs d ON d.id = s.dir_id \
                 LEFT JOIN ingest_workers w ON w.id = d.node \
                 WHERE NOT s.deleting AND s.id IN {}",
                placeholders(1, chunk.len())
            );
            let rows: Vec<Row> = with_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows.into_iter().map(
                |(id, dir_id, node, address, dir_path, path, bytes, sha256)| SegmentSource {
                    id,
                    dir_id,
                    node,
                    address,
                    dir_path,
                    path,
                    bytes: u64::try_from(bytes).unwrap_or(0),
                    sha256,
                },
            ));
        }
        Ok(out)
    }

    /// Bytes and segments per directory (those being deleted left out), as kept with the rows
    /// (`recording_dir_usage`): no scan of the segments, however many there are.
    pub async fn recording_usage(&self) -> Result<Vec<DirBytes>, StoreError> {
        let rows: Vec<(String, i64, i64)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT dir_id, bytes, segments FROM recording_dir_usage \
                 WHERE segments > 0 ORDER BY dir_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(dir_id, bytes, segments)| DirBytes {
                dir_id,
                bytes: bytes.max(0) as u64,
                segments: segments.max(0) as u64,
            })
            .collect())
    }

    /// A directory's oldest segments (at most `limit`), with whether a lock active at `now`
    /// covers them: what retention decides on.
    pub async fn retention_candidates(
        &self,
        dir_id: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Candidate>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.camera_id, s.dir_id, s.path, s.mode, s.start_ms, s.end_ms, s.bytes, \
             {LOCKED} AS locked FROM recording_segments s \
             WHERE s.dir_id = $1 AND NOT s.deleting ORDER BY s.start_ms, s.id LIMIT $3"
        );
        let rows: Vec<CandidateRow> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(dir_id)
                .bind(to_ms(now))
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(Candidate::from).collect())
    }

    /// A directory's oldest segments, enough of them (unlocked at `now`) to free `short` bytes
    /// if that can be done: the oldest `first_look`, or when they are not enough, the oldest
    /// `at_most`. What a retention pass short of space reads: reading the oldest 20,000 every
    /// time cost 136 ms on SQLite with 30 days of two cameras, however little was short.
    pub async fn retention_oldest_to_free(
        &self,
        dir_id: &str,
        now: DateTime<Utc>,
        short: u64,
        (first_look, at_most): (u32, u32),
    ) -> Result<Vec<Candidate>, StoreError> {
        let first = self.retention_candidates(dir_id, now, first_look).await?;
        let freeable: u64 = first.iter().filter(|c| !c.locked).map(|c| c.bytes).sum();
        if freeable >= short || first.len() < first_look as usize || first_look >= at_most {
            return Ok(first);
        }
        self.retention_candidates(dir_id, now, at_most).await
    }

    /// The segments of a directory that age may have made due, oldest first (at most
    /// `limit`): those recorded in `incidents` mode that started before `buffer_before`, and
    /// the others that started before `kept_before` (now minus the shortest retention of any
    /// camera); with whether a lock active at `now` covers them. What a retention pass reads
    /// when the directory is not short of space: the due ones and the old locked ones, not
    /// every segment it keeps.
    pub async fn retention_due(
        &self,
        dir_id: &str,
        now: DateTime<Utc>,
        (kept_before, buffer_before): (DateTime<Utc>, DateTime<Utc>),
        limit: u32,
    ) -> Result<Vec<Candidate>, StoreError> {
        // Two reads, each by an index (`recording_segments_by_dir`, and the partial
        // `recording_segments_buffer` whose condition is the second's, word for word).
        let older = |mode_is: &str| {
            format!(
                "SELECT s.id, s.camera_id, s.dir_id, s.path, s.mode, s.start_ms, s.end_ms, \
                 s.bytes, {LOCKED} AS locked FROM recording_segments s \
                 WHERE s.dir_id = $1 AND {mode_is} AND s.start_ms < $3 AND NOT s.deleting \
                 ORDER BY s.start_ms, s.id LIMIT $4"
            )
        };
        let mut rows: Vec<CandidateRow> = Vec::new();
        for (sql, before) in [
            (older("s.mode <> 'incidents'"), kept_before),
            (older("mode = 'incidents'"), buffer_before),
        ] {
            let found: Vec<CandidateRow> = with_pool!(self, p => {
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(dir_id)
                    .bind(to_ms(now))
                    .bind(to_ms(before))
                    .bind(i64::from(limit))
                    .fetch_all(p)
                    .await?
            });
            rows.extend(found);
        }
        rows.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
        rows.truncate(limit as usize);
        Ok(rows.into_iter().map(Candidate::from).collect())
    }

    /// Locks a camera's recordings over a time range (see [`RecordingLock`]).
    pub async fn lock_recordings(
        &self,
        lock: &RecordingLock,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO recording_locks \
                 (id, camera_id, from_ms, to_ms, incident_id, until_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&lock.id)
            .bind(&lock.camera_id)
            .bind(to_ms(lock.from))
            .bind(to_ms(lock.to))
            .bind(&lock.incident_id)
            .bind(lock.until.map(to_ms))
            .bind(to_ms(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// An incident closed: its open-ended locks hold until `until`. Returns how many.
    pub async fn release_recording_locks(
        &self,
        incident_id: &str,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = with_pool!(self, p => {
            sqlx::query(
                "UPDATE recording_locks SET until_ms = $2 \
                 WHERE incident_id = $1 AND until_ms IS NULL",
            )
            .bind(incident_id)
            .bind(to_ms(until))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done)
    }

    /// A camera's locks that cover any of `[from, to)`.
    pub async fn recording_locks(
        &self,
        camera_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RecordingLock>, StoreError> {
        let rows: Vec<LockRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, camera_id, from_ms, to_ms, incident_id, until_ms \
                 FROM recording_locks WHERE camera_id = $1 AND from_ms < $3 AND to_ms > $2 \
                 ORDER BY from_ms, id",
            )
            .bind(camera_id)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| RecordingLock {
                id: r.id,
                camera_id: r.camera_id,
                from: from_ms(r.from_ms),
                to: from_ms(r.to_ms),
                incident_id: r.incident_id,
                until: r.until_ms.map(from_ms),
            })
            .collect())
    }

    /// Records a sealed evidence clip.
    pub async fn insert_evidence_clip(&self, c: &EvidenceClip) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO evidence_clips (id, incident_id, camera_id, from_ms, to_ms, file, \
                 bytes, sha256, manifest_seq, manifest_file, manifest_sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&c.id)
            .bind(&c.incident_id)
            .bind(&c.camera_id)
            .bind(to_ms(c.from))
            .bind(to_ms(c.to))
            .bind(&c.file)
            .bind(c.bytes as i64)
            .bind(&c.sha256)
            .bind(c.manifest_seq as i64)
            .bind(&c.manifest_file)
            .bind(&c.manifest_sha256)
            .bind(to_ms(c.created_at))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// An incident's clips, in the order they were sealed.
    pub async fn evidence_clips(&self, incident_id: &str) -> Result<Vec<EvidenceClip>, StoreError> {
        let rows: Vec<ClipRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, incident_id, camera_id, from_ms, to_ms, file, bytes, sha256, \
                 manifest_seq, manifest_file, manifest_sha256, created_at \
                 FROM evidence_clips WHERE incident_id = $1 ORDER BY manifest_seq",
            )
            .bind(incident_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(EvidenceClip::from).collect())
    }

    /// The newest manifest's sequence number and hash: the chain's head, which the files
    /// alone cannot vouch for.
    pub async fn evidence_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT manifest_seq, manifest_sha256 FROM evidence_clips \
                 ORDER BY manifest_seq DESC LIMIT 1",
            )
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(seq, sha)| (seq.max(0) as u64, sha)))
    }
}
