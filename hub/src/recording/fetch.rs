//! Where a segment's file is, for whoever reads it (playback, `recordings.mp4`, evidence), on
//! whichever node recorded it.
//!
//! A segment's directory belongs to a node (`recording_dirs.node`): `NULL` for the in-process
//! hub, else the ingest worker that opened it. A segment of a directory that is `NULL` or one
//! this process's recorder has open is read where it is. Any other is fetched from its worker
//! (`GET /internal/v1/recordings/segments/{id}`, behind the shared secret, at the address the
//! worker advertises in `ingest_workers`) into a cache under the data directory,
//! `<data_dir>/cache/segments/<id>.mp4`: written to a temporary file, checked against the
//! row's bytes and SHA-256, then renamed, so a reader never sees a partial or altered file.
//! A cached file is hashed again each time it is used (a file altered on the hub's disk is
//! fetched again), as evidence must seal exactly the bytes the index vouches for.
//!
//! The cache is bounded by `[recording] fetched_cache_bytes`: after each fetch the entries
//! used least recently (their mtime, set at each use) go first. Entries used within
//! [`IN_USE`] are kept even above the bound, because a clip plan reads its files by path
//! while its download streams; the bound is therefore soft by what was fetched in that time.
//!
//! Not covered: the segment a worker is writing now (its last minute) is not indexed yet, so
//! it is never fetched (`recordings.mp4` ends before it). Playback reaches it all the same:
//! a hub relays `live?from=` to the worker holding the camera (`crate::http::proxy`), which
//! plays its open segment itself, and reads the older ones through its own resolver (this one:
//! a worker's fetches another worker's segments as a hub's does).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gridwatch_ingest::recording::Recorder;
use gridwatch_store::{SegmentSource, Store, StoreError};
use sha2_011::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::workers::auth::SECRET_HEADER;

/// How long connecting to a worker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence while a segment's bytes come (not a total: segments are tens of MB).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Cache entries used this recently are not evicted (see the module's description).
pub const IN_USE: Duration = Duration::from_secs(15 * 60);

/// The internal path a worker serves a segment's bytes at.
pub fn segment_path(id: &str) -> String {
    format!("/internal/v1/recordings/segments/{id}")
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker holding the segment is down, unknown or failing: worth retrying later.
    #[error("segment {id} is on ingest worker {node}, which cannot serve it now: {reason}")]
    Unavailable {
        id: String,
        node: String,
        reason: String,
    },
    /// What the worker sent is not what was indexed; nothing of it was kept.
    #[error(
        "segment {id} from ingest worker {node} does not match its index \
         ({got_bytes} bytes, sha256 {got}; indexed {bytes} bytes, sha256 {sha256})"
    )]
    Mismatch {
        id: String,
        node: String,
        bytes: u64,
        sha256: String,
        got_bytes: u64,
        got: String,
    },
    #[error("the fetched-segment cache at {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    /// Whether the recording is there but its node cannot serve it now.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, FetchError::Unavailable { .. })
    }
}

/// The resolver; cheap to clone.
#[derive(Clone)]
pub struct SegmentFiles {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// This process's recorder: its directories are local whatever node they are registered to.
    recorder: Option<Recorder>,
    /// `None`: segments of other nodes are unavailable here (tools and unit tests).
    cache: Option<Cache>,
}

struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    secret: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for SegmentFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFiles")
            .field("cache", &self.inner.cache.as_ref().map(|c| &c.dir))
            .finish_non_exhaustive()
    }
}

impl SegmentFiles {
    /// A resolver that fetches other nodes' segments into `cache_dir` (bounded by
    /// `max_bytes`), showing workers `secret`.
    pub fn new(
        store: Store,
        recorder: Option<Recorder>,
        cache_dir: PathBuf,
        max_bytes: u64,
        secret: String,
    ) -> SegmentFiles {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .unwrap_or_default();
        SegmentFiles {
            inner: Arc::new(Inner {
                store,
                recorder,
                cache: Some(Cache {
                    dir: cache_dir,
                    max_bytes,
                    secret,
                    client,
                }),
            }),
        }
    }

    /// A resolver of this machine's files only (`NULL`-node directories): other nodes'
    /// segments are [`FetchError::Unavailable`].
    pub fn local(store: Store) -> SegmentFiles {
        SegmentFiles {
            inner: Arc::new(Inner {
                store,
                recorder: None,
                cache: None,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A readable file for each of the segments `ids` still indexed (a segment its worker no
    /// longer has is left out, as one deleted since it was listed); fetched and checked first
    /// when it is another node's.
    pub async fn resolve(&self, ids: &[String]) -> Result<HashMap<String, PathBuf>, FetchError> {
        let sources = self.inner.store.recording_segment_sources(ids).await?;
        let mut out = HashMap::with_capacity(sources.len());
        for source in sources {
            if let Some(local) = self.local_path(&source) {
                out.insert(source.id, local);
                continue;
            }
            if let Some(file) = self.fetched(&source).await? {
                out.insert(source.id, file);
            }
        }
        Ok(out)
    }

    /// Where the segment is on this machine, when it is this machine's.
    fn local_path(&self, s: &SegmentSource) -> Option<PathBuf> {
        match &s.node {
            None => Some(Path::new(&s.dir_path).join(&s.path)),
            Some(_) => self
                .inner
                .recorder
                .as_ref()
                .and_then(|r| r.dir_path(&s.dir_id))
                .map(|d| d.join(&s.path)),
        }
    }

    /// The segment from the cache (checked), else from its worker; `None` when the worker
    /// says it has no such segment.
    async fn fetched(&self, s: &SegmentSource) -> Result<Option<PathBuf>, FetchError> {
        let node = s.node.clone().unwrap_or_default();
        let unavailable = |reason: String| FetchError::Unavailable {
            id: s.id.clone(),
            node: node.clone(),
            reason,
        };
        let Some(cache) = &self.inner.cache else {
            return Err(unavailable("this process fetches no segments".into()));
        };
        // Segment IDs are the recorder's; anything else would not be a file name of ours.
        if s.id.is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(unavailable("an unexpected segment ID".into()));
        }
        let file = cache.dir.join(format!("{}.mp4", s.id));
        if let Some(file) = cached(&file, s).await? {
            return Ok(Some(file));
        }
        let Some(base) = s.address.as_deref().map(|a| a.trim_end_matches('/')) else {
            return Err(unavailable("no such worker is registered".into()));
        };
        let resp = cache
            .client
            .get(format!("{base}{}", segment_path(&s.id)))
            .header(SECRET_HEADER, &cache.secret)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                tracing::warn!(segment = %s.id, %node, "the worker no longer has an indexed segment");
                return Ok(None);
            }
            status => return Err(unavailable(format!("it answered {status}"))),
        }
        let cache_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| FetchError::Cache { path, source }
        };
        tokio::fs::create_dir_all(&cache.dir)
            .await
            .map_err(cache_err(&cache.dir))?;
        let temp = cache.dir.join(format!(
            "{}.{}.part",
            s.id,
            gridwatch_core::id::new_id().replace('-', "")
        ));
        let written = download(resp, &temp, s.bytes).await;
        let (got_bytes, got) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(match e {
                    Download::Io(e) => cache_err(&temp)(e),
                    Download::Net(reason) => unavailable(reason),
                    Download::TooLong(got_bytes) => FetchError::Mismatch {
                        id: s.id.clone(),
                        node,
                        bytes: s.bytes,
                        sha256: s.sha256.clone(),
                        got_bytes,
                        got: "(not computed: too long)".into(),
                    },
                });
            }
        };
        if got_bytes != s.bytes || !got.eq_ignore_ascii_case(&s.sha256) {
            let _ = tokio::fs::remove_file(&temp).await;
            tracing::error!(segment = %s.id, %node, "a fetched segment does not match its index; discarded");
            return Err(FetchError::Mismatch {
                id: s.id.clone(),
                node,
                bytes: s.bytes,
                sha256: s.sha256.clone(),
                got_bytes,
                got,
            });
        }
        tokio::fs::rename(&temp, &file)
            .await
            .map_err(cache_err(&file))?;
        tracing::debug!(segment = %s.id, %node, bytes = got_bytes, "segment fetched from its worker");
        let (dir, max) = (cache.dir.clone(), cache.max_bytes);
        let _ = tokio::task::spawn_blocking(move || {
            let keep_after = SystemTime::now()
                .checked_sub(IN_USE)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Err(e) = evict(&dir, max, keep_after) {
                tracing::warn!(dir = %dir.display(), error = %e, "the segment cache could not be trimmed");
            }
        })
        .await;
        Ok(Some(file))
    }
}

/// `file` when it is there and still what was indexed (its use noted in its mtime); an
/// altered one is removed, to be fetched again.
async fn cached(file: &Path, s: &SegmentSource) -> Result<Option<PathBuf>, FetchError> {
    let path = file.to_path_buf();
    let checked = tokio::task::spawn_blocking(move || -> std::io::Result<Option<(u64, String)>> {
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        // Used now: the last to be evicted.
        let _ = std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Ok(Some((len, hex::encode(hasher.finalize()))))
    })
    .await
    .map_err(|e| FetchError::Cache {
        path: file.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|source| FetchError::Cache {
        path: file.display().to_string(),
        source,
    })?;
    match checked {
        None => Ok(None),
        Some((len, sha)) if len == s.bytes && sha.eq_ignore_ascii_case(&s.sha256) => {
            Ok(Some(file.to_path_buf()))
        }
        Some(_) => {
            tracing::warn!(segment = %s.id, file = %file.display(),
                "a cached segment no longer matches its index; fetching it again");
            let _ = tokio::fs::remove_file(file).await;
            Ok(None)
        }
    }
}

enum Download {
    Io(std::io::Error),
    Net(String),
    /// More than the indexed bytes came (how many so far).
    TooLong(u64),
}

/// The response's body into `temp`, hashed on the way; never more than `limit` bytes kept.
async fn download(
    mut resp: reqwest::Response,
    temp: &Path,
    limit: u64,
) -> Result<(u64, String), Download> {
    let mut out = tokio::fs::File::create(temp).await.map_err(Download::Io)?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Download::Net(e.to_string()))?
    {
        len += chunk.len() as u64;
        if len > limit {
            return Err(Download::TooLong(len));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(Download::Io)?;
    }
    out.flush().await.map_err(Download::Io)?;
    Ok((len, hex::encode(hasher.finalize())))
}

/// Removes the least recently used `.mp4` entries of `dir` until it holds at most `max_bytes`,
/// sparing those used after `keep_after`; also removes temporary files older than that (a
/// fetch that died). Returns the bytes left.
pub fn evict(dir: &Path, max_bytes: u64, keep_after: SystemTime) -> std::io::Result<u64> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let path = entry.path();
        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        match path.extension().and_then(|e| e.to_str()) {
            Some("mp4") => entries.push((used, meta.len(), path)),
            Some("part") if used < keep_after => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
    entries.sort();
    for (used, len, path) in entries {
        if total <= max_bytes || used >= keep_after {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => total -= len,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_recent_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let put = |name: &str, len: usize, at: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![0u8; len]).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(t0 + Duration::from_secs(at))
                .unwrap();
        };
        put("a.mp4", 100, 1);
        put("b.mp4", 100, 3);
        put("c.mp4", 100, 2);
        put("d.mp4", 100, 10);
        put("old.x.part", 50, 0);
        put("new.x.part", 50, 20);
        // Over 250 bytes: a (oldest), then c, go; b fits.
        let left = evict(dir.path(), 250, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(left, 200);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(names, ["b.mp4", "d.mp4", "new.x.part"]);
        // Entries used after `keep_after` stay even above the bound.
        let left = evict(dir.path(), 0, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(left, 100);
        assert!(dir.path().join("d.mp4").exists());
    }
}
