//! The chain of manifests in an evidence directory: sealing a clip, and
//! verifying every manifest, link and file.
//!
//! ```text
//! <evidence dir>/clips/00000007-<incident>-<camera>.mp4
//! <evidence dir>/manifests/00000007.json   {"seq": 7, "clip": {"sha256": …},
//!                                           "previous": {"seq": 6, "sha256": <hash of 00000006.json>}, …}
//! ```
//!
//! Editing a clip changes its hash (its manifest no longer matches);
//! editing a manifest changes its hash (the next one's link no longer
//! matches); removing one leaves a gap in the sequence numbers and a link to
//! nothing. Only the newest manifest has no successor to vouch for it: the
//! hub keeps the head's hash in its database and passes it as
//! [`VerifyOptions::expected_head`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::manifest::{
    ClipEvidence, Manifest, NotRecorded, PreviousManifest, SegmentEvidence, FORMAT,
};
use crate::recording::clip::{ClipError, ClipPlan};
use crate::recording::dir::escape;

/// Why a clip could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// The chain is broken where a new manifest would link to it (verify it).
    #[error("the evidence chain cannot be extended: {0}")]
    Chain(String),
    /// The chain lacks a manifest the caller knows of ([`SealRequest::known_head`]): another
    /// process seals into another directory, and sealing here would fork the chain.
    #[error(
        "the last manifest sealed (seq {known}) is not in this evidence directory (head \
         {local:?}): another node seals elsewhere; only one chain may be extended"
    )]
    Behind { known: u64, local: Option<u64> },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What to seal.
#[derive(Debug)]
pub struct SealRequest<'a> {
    pub incident_id: &'a str,
    pub camera_id: &'a str,
    pub requested_from: DateTime<Utc>,
    pub requested_to: DateTime<Utc>,
    pub plan: &'a ClipPlan,
    /// The segments the clip was cut from, with their indexed hashes.
    pub segments: Vec<SegmentEvidence>,
    pub now: DateTime<Utc>,
    /// The newest manifest the caller knows was sealed (the database's), which the chain must
    /// hold; `None`: nothing to check.
    pub known_head: Option<PreviousManifest>,
}

/// A sealed clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub manifest: Manifest,
    /// Relative to the evidence directory.
    pub manifest_file: String,
    pub manifest_sha256: String,
}

/// An evidence directory.
#[derive(Debug, Clone)]
pub struct EvidenceDir {
    path: PathBuf,
}

/// Something verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{file}: unreadable manifest: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file}: named for another sequence number than its seq {seq}")]
    Misnamed { file: String, seq: u64 },
    /// Manifests `first..=last` are missing: one problem for a run, however long, so that a
    /// manifest planted with a huge `seq` is told, not a reason to list billions.
    #[error("{}", missing_text(*first, *last))]
    Missing { first: u64, last: u64 },
    #[error(
        "manifest {seq} does not link to manifest {previous} as it is now (edited or replaced)"
    )]
    BrokenLink { seq: u64, previous: u64 },
    #[error("manifest {seq}: its clip {file} is missing")]
    ClipMissing { seq: u64, file: String },
    #[error("manifest {seq}: its clip {file} was altered (hash or size differs)")]
    ClipAltered { seq: u64, file: String },
    #[error("manifest {seq}: segment {id} was altered (hash differs from the one sealed)")]
    SegmentAltered { seq: u64, id: String },
    #[error("the newest manifest is {found:?}, the database expects {expected:?}")]
    HeadMismatch {
        expected: Option<(u64, String)>,
        found: Option<(u64, String)>,
    },
}

fn missing_text(first: u64, last: u64) -> String {
    if first == last {
        format!("manifest {first} is missing")
    } else {
        format!("manifests {first} to {last} are missing")
    }
}

/// Where a sealed segment's file is, if it is still kept.
pub type SegmentLookup<'a> = &'a dyn Fn(&SegmentEvidence) -> Option<PathBuf>;

/// What to check beyond the directory itself.
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// The newest manifest the database knows (seq and hash).
    pub expected_head: Option<PreviousManifest>,
    /// Where a sealed segment's file is, if it is still kept; segments
    /// without a file (deleted by retention once unlocked) are not checked.
    pub segment_file: Option<SegmentLookup<'a>>,
}

/// What verification found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub manifests: usize,
    pub clips_checked: usize,
    pub segments_checked: usize,
    /// Sealed segments no longer on disk.
    pub segments_unavailable: usize,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn manifest_name(seq: u64) -> String {
    format!("manifests/{seq:08}.json")
}

/// SHA-256 of a file, streamed; its size too.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// SHA-256 of `bytes`, in lowercase hex (how manifests and the database write it).
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A manifest as found on disk.
struct OnDisk {
    manifest: Manifest,
    sha256: String,
}

impl EvidenceDir {
    /// Opens (creating) an evidence directory.
    pub fn open(path: &Path) -> Result<Self, EvidenceError> {
        for sub in ["clips", "manifests"] {
            fs::create_dir_all(path.join(sub)).map_err(io_err(path))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest manifest's sequence number and hash: what the next seal links to. Only that
    /// manifest is read (a seal must not cost more as the chain grows); it must be readable and
    /// rightly named, or nothing can be linked to it. The older ones are checked by
    /// [`EvidenceDir::verify`].
    pub fn head(&self) -> Result<Option<PreviousManifest>, EvidenceError> {
        let Some(name) = self.manifest_names()?.pop() else {
            return Ok(None);
        };
        let (read, problem) = self.read_manifest(&name)?;
        match (read, problem) {
            (Some(m), _) => Ok(Some(PreviousManifest {
                seq: m.manifest.seq,
                sha256: m.sha256,
            })),
            (None, Some(p)) => Err(EvidenceError::Chain(p.to_string())),
            (None, None) => Ok(None),
        }
    }

    /// Writes the clip and its manifest, linked to the newest manifest.
    /// Clip first, synced, then the manifest, synced: a manifest never
    /// names a clip that is not whole on disk. Serialized by a lock on the
    /// directory (several processes may seal).
    pub fn seal(&self, request: SealRequest<'_>) -> Result<Sealed, EvidenceError> {
        let lock_path = self.path.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a descriptor we own; released when `lock` closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err(&lock_path)(io::Error::last_os_error()));
        }
        let previous = self.head()?;
        if let Some(known) = &request.known_head {
            // Ahead is fine: a seal whose record was not kept by the caller is sealed again.
            let holds = previous
                .as_ref()
                .is_some_and(|p| p.seq > known.seq || p == known);
            if !holds {
                return Err(EvidenceError::Behind {
                    known: known.seq,
                    local: previous.map(|p| p.seq),
                });
            }
        }
        let seq = previous.as_ref().map_or(1, |p| p.seq.saturating_add(1));
        let clip_file = format!(
            "clips/{seq:08}-{}-{}.mp4",
            escape(request.incident_id),
            escape(request.camera_id)
        );
        let written = request.plan.write_file(&self.path.join(&clip_file))?;
        let manifest = Manifest {
            format: FORMAT.into(),
            seq,
            created_at: request.now,
            incident_id: request.incident_id.into(),
            camera_id: request.camera_id.into(),
            requested_from: request.requested_from,
            requested_to: request.requested_to,
            clip: ClipEvidence {
                file: clip_file,
                sha256: written.sha256,
                bytes: written.bytes,
                from: request.plan.from.into(),
                to: request.plan.to.into(),
                frames: request.plan.frames,
                not_recorded: request
                    .plan
                    .held
                    .iter()
                    .map(|&(from, to)| NotRecorded {
                        from: from.into(),
                        to: to.into(),
                    })
                    .collect(),
            },
            segments: request.segments,
            previous,
        };
        let bytes = manifest.to_bytes();
        let manifest_file = manifest_name(seq);
        write_new_durably(&self.path.join(&manifest_file), &bytes)?;
        drop(lock);
        Ok(Sealed {
            manifest,
            manifest_file,
            manifest_sha256: sha256(&bytes),
        })
    }

    /// Every readable manifest, in order (e.g. to find the segments they name).
    pub fn manifests(&self) -> Result<Vec<Manifest>, EvidenceError> {
        Ok(self
            .read_manifests()?
            .0
            .into_iter()
            .map(|m| m.manifest)
            .collect())
    }

    /// Every manifest in order, and what is wrong with the files themselves.
    fn read_manifests(&self) -> Result<(Vec<OnDisk>, Vec<Problem>), EvidenceError> {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for name in self.manifest_names()? {
            let (read, problem) = self.read_manifest(&name)?;
            found.extend(read);
            problems.extend(problem);
        }
        found.sort_by_key(|m| m.manifest.seq);
        Ok((found, problems))
    }

    /// The names of the files in `manifests/`, sorted (the newest last: names are the
    /// zero-padded sequence number).
    fn manifest_names(&self) -> Result<Vec<String>, EvidenceError> {
        let dir = self.path.join("manifests");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// One manifest of `manifests/`, or what is wrong with its file.
    fn read_manifest(
        &self,
        name: &str,
    ) -> Result<(Option<OnDisk>, Option<Problem>), EvidenceError> {
        let file = format!("manifests/{name}");
        let path = self.path.join(&file);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        Ok(match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(manifest) if manifest.format == FORMAT => {
                if file != manifest_name(manifest.seq) {
                    let seq = manifest.seq;
                    (None, Some(Problem::Misnamed { file, seq }))
                } else {
                    let sha256 = sha256(&bytes);
                    (Some(OnDisk { sha256, manifest }), None)
                }
            }
            Ok(manifest) => {
                let reason = format!("unknown format {:?}", manifest.format);
                (None, Some(Problem::Unreadable { file, reason }))
            }
            Err(e) => {
                let reason = e.to_string();
                (None, Some(Problem::Unreadable { file, reason }))
            }
        })
    }

    /// Checks the chain and every file it names.
    pub fn verify(&self, options: &VerifyOptions<'_>) -> Result<VerifyReport, EvidenceError> {
        let (found, mut problems) = self.read_manifests()?;
        let mut report = VerifyReport {
            manifests: found.len(),
            ..VerifyReport::default()
        };
        let mut expected_seq = 1;
        let mut before: Option<&OnDisk> = None;
        for m in &found {
            let seq = m.manifest.seq;
            if expected_seq < seq {
                problems.push(Problem::Missing {
                    first: expected_seq,
                    last: seq - 1,
                });
            }
            expected_seq = seq.saturating_add(1);
            // The link must name the manifest just before, as it is now
            // (when that one is missing, the gap is the problem reported).
            let link_ok = match (&m.manifest.previous, before) {
                (None, _) => seq == 1,
                (Some(p), _) if p.seq.checked_add(1) != Some(seq) => false,
                (Some(p), Some(b)) if b.manifest.seq == p.seq => p.sha256 == b.sha256,
                (Some(_), _) => true,
            };
            if !link_ok {
                problems.push(Problem::BrokenLink {
                    seq,
                    previous: seq.saturating_sub(1),
                });
            }
            before = Some(m);
            self.check_clip(&m.manifest, &mut problems);
            report.clips_checked += 1;
            if let Some(lookup) = options.segment_file {
                for segment in &m.manifest.segments {
                    match lookup(segment) {
                        None => report.segments_unavailable += 1,
                        Some(path) => {
                            report.segments_checked += 1;
                            let same = hash_file(&path).is_ok_and(|(h, _)| h == segment.sha256);
                            if !same {
                                problems.push(Problem::SegmentAltered {
                                    seq,
                                    id: segment.id.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        if let Some(expected) = &options.expected_head {
            let found_head = found.last().map(|m| (m.manifest.seq, m.sha256.clone()));
            let expected = Some((expected.seq, expected.sha256.clone()));
            if found_head != expected {
                problems.push(Problem::HeadMismatch {
                    expected,
                    found: found_head,
                });
            }
        }
        report.problems = problems;
        Ok(report)
    }

    fn check_clip(&self, manifest: &Manifest, problems: &mut Vec<Problem>) {
        let file = &manifest.clip.file;
        let inside = Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        let path = self.path.join(file);
        if !inside || !path.is_file() {
            problems.push(Problem::ClipMissing {
                seq: manifest.seq,
                file: file.clone(),
            });
            return;
        }
        let same = hash_file(&path)
            .is_ok_and(|(h, len)| h == manifest.clip.sha256 && len == manifest.clip.bytes);
        if !same {
            problems.push(Problem::ClipAltered {
                seq: manifest.seq,
                file: file.clone(),
            });
        }
    }
}

/// Writes a new file (never over an existing one) and syncs it and its directory.
fn write_new_durably(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Some(parent) = path.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(io_err(path))
}
