//! Evidence clips of incidents, end to end on a hub that records a simulated camera: an
//! incident naming the camera locks its recordings at once, gets its clip `post` seconds after
//! it was raised (the injected clock is advanced: nobody waits 90 s), lists it with where it
//! holds its picture over an outage (recording off for 3 s), downloads it
//! for duty officers (each download on the timeline), never for residents or other posts'
//! responders; `gridwatch evidence verify` passes on the result and fails once the clip is
//! altered; closing the incident gives the lock its end. On both backends.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::clock::Clock;
use gridwatch_hub::recording::{evidence, retention};
use gridwatch_ingest::evidence::hash_file;
use gridwatch_store::testing::{bare_sos, fresh_postgres_url, fresh_sqlite_url};
use gridwatch_store::{Store, StoreOptions};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::evidence::cli_verify;
use super::served::{add_camera, recording_state, wait_for_segments};
use crate::common::Hub;
use crate::ingest_common::media::{have_ffprobe, probe};
use crate::ingest_common::start_sim;

/// A GET with a token and maybe a range; status, headers and the raw body.
async fn fetch(
    hub: &Hub,
    path: &str,
    token: &str,
    range: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    let resp = hub
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

async fn incidents_get_sealed_clips(db: String) {
    let store = Store::open(&StoreOptions::new(db.clone())).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sim = start_sim(1);
    let camera = add_camera(&store, &sim.url(1)).await;
    let (state, clock) = recording_state(&store, &tmp.path().join("samples")).await;
    let hub = Hub::from_state(state.clone(), clock.clone());

    let mut sos = bare_sos(&gridwatch_core::id::new_id());
    sos.raise.cameras = vec![camera.clone()];
    let incident = store
        .raise_incident(sos, clock.now())
        .await
        .unwrap()
        .incident;
    // As stored: to the millisecond.
    let (incident, raised) = (incident.id, incident.created_at);

    // Seen at once: scheduled, and the camera's recordings over the window locked while open.
    let first = evidence::tick(&state.recording).await.unwrap();
    assert_eq!((first.scheduled, first.sealed), (1, 0), "{first:?}");
    let (from, to) = (
        raised - Duration::seconds(30),
        raised + Duration::seconds(60),
    );
    let locks = store.recording_locks(&camera, from, to).await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(
        (locks[0].from, locks[0].to, locks[0].until),
        (from, to, None)
    );
    assert_eq!(locks[0].incident_id.as_deref(), Some(incident.as_str()));

    // Real recording for a few seconds, then none for 3 s (recording off, as an admin may),
    // then more; the clip is due only once `post` has passed.
    wait_for_segments(&store, &camera, 3).await;
    let (_, admin) = hub.login_as("admin", None, None).await;
    for (record, then) in [("off", 3000), ("continuous", 0)] {
        let set = hub
            .call(
                Method::PATCH,
                &format!("/api/v1/cameras/{camera}"),
                Some(&admin),
                Some(json!({ "record": record })),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        tokio::time::sleep(std::time::Duration::from_millis(then)).await;
    }
    wait_for_segments(&store, &camera, 6).await;
    let recorded = store
        .recording_segments(&camera, "main", from, to)
        .await
        .unwrap();
    // The outage: the one gap between the recorded segments longer than a second.
    let outages: Vec<(DateTime<Utc>, DateTime<Utc>)> = recorded
        .windows(2)
        .map(|w| (w[0].end, w[1].start))
        .filter(|(end, next)| *next - *end > Duration::seconds(1))
        .collect();
    assert_eq!(outages.len(), 1, "{recorded:?}");
    clock.advance(Duration::seconds(58));
    let early = evidence::tick(&state.recording).await.unwrap();
    assert_eq!((early.scheduled, early.sealed), (0, 0), "{early:?}");
    clock.advance(Duration::seconds(3));
    let due = evidence::tick(&state.recording).await.unwrap();
    assert_eq!((due.sealed, due.failed), (1, 0), "{due:?}");
    assert_eq!(
        evidence::tick(&state.recording).await.unwrap().sealed,
        0,
        "sealed once"
    );

    // Listed for the duty officer.
    let (_, duty) = hub.login_as("duty_officer", None, None).await;
    let listed = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{incident}/clips"),
            Some(&duty),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let clips = listed.body["clips"].as_array().unwrap().clone();
    assert_eq!(clips.len(), 1, "{}", listed.body);
    let clip = &clips[0];
    assert_eq!(clip["camera_id"], json!(camera));
    let clip_from: DateTime<Utc> = serde_json::from_value(clip["from"].clone()).unwrap();
    assert!(
        clip_from >= from && clip_from < raised + Duration::seconds(5),
        "{clip}"
    );
    let clip_id = clip["id"].as_str().unwrap();
    let sha = clip["sha256"].as_str().unwrap();
    // Where the clip holds its picture, as its manifest says: the outage, to the millisecond.
    let not_recorded: Vec<(DateTime<Utc>, DateTime<Utc>)> = clip["not_recorded"]
        .as_array()
        .unwrap_or_else(|| panic!("{clip}"))
        .iter()
        .map(|n| {
            (
                serde_json::from_value(n["from"].clone()).unwrap(),
                serde_json::from_value(n["to"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(not_recorded, outages, "{clip}");

    // Played (a range: what a player asks first), then downloaded whole (its hash is the
    // listed one; ffprobe decodes it).
    let url = format!("/api/v1/incidents/{incident}/clips/{clip_id}");
    let (status, _, part) = fetch(&hub, &url, &duty, Some("bytes=0-99")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let (status, headers, bytes) = fetch(&hub, &url, &duty, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(part, bytes[..100]);
    assert_eq!(headers[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(bytes.len() as u64, clip["bytes"].as_u64().unwrap());
    let copy = tmp.path().join("download.mp4");
    std::fs::write(&copy, &bytes).unwrap();
    assert_eq!(hash_file(&copy).unwrap().0, sha);
    if have_ffprobe("incidents_get_sealed_clips") {
        assert!(probe(&copy).frames > 0);
    }
    // The player's seeks: ranges of a clip this person was recorded taking are part of that
    // access, served and not recorded again (the timeline below holds two downloads).
    // (From the first byte to the last is a save, recorded; these start further in.)
    let len = bytes.len();
    for n in 1..100 {
        let at = n * len / 100;
        let (status, _, got) = fetch(&hub, &url, &duty, Some(&format!("bytes={at}-"))).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(got, bytes[at..], "seek {n}");
    }
    // A download whose audit event cannot be written (the event log's lock held by another
    // transaction: SQLite's busy wait ends, PostgreSQL's would not) sends no video: 503 after
    // about ten seconds, a JSON error, and nothing on the timeline (the two below are all).
    {
        let hold = gridwatch_store::testing::hold_event_log(&store)
            .await
            .unwrap();
        let asked = std::time::Instant::now();
        let (status, headers, refused) = fetch(&hub, &url, &duty, None).await;
        eprintln!("refused after {:?}", asked.elapsed());
        hold.release().await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "no-store",
            "errors are not kept"
        );
        let refused: Value = serde_json::from_slice(&refused).expect("a JSON error, not video");
        assert_eq!(refused["error"]["code"], "export_not_recorded", "{refused}");
    }

    // Each download is on the timeline: who, and which clip.
    let timeline = timeline_of(&hub, &incident, &duty).await;
    let of = |kind: &str| -> Vec<Value> {
        timeline
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    };
    assert_eq!(of("incident.evidence_sealed").len(), 1, "{timeline:?}");
    let downloads = of("incident.evidence_downloaded");
    assert_eq!(downloads.len(), 2, "{timeline:?}");
    assert_eq!(downloads[0]["data"]["clip_id"], json!(clip_id));
    assert!(downloads[0]["actor"].as_str().unwrap().starts_with("user:"));
    assert_eq!(downloads[0]["data"]["range"], "bytes 0-99");
    assert_eq!(downloads[1]["data"]["range"], "all");
    // And on the export audit with every other video taken out, newest first.
    let exports = hub
        .call(Method::GET, "/api/v1/exports", Some(&duty), None)
        .await;
    assert_eq!(exports.status, StatusCode::OK, "{:?}", exports.body);
    let rows = exports.body["exports"].as_array().unwrap();
    let listed: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-");
            (s("type"), s("range"), s("clip_id"))
        })
        .collect();
    let downloaded = "incident.evidence_downloaded";
    assert_eq!(
        listed,
        [
            (downloaded, "all", clip_id),
            (downloaded, "bytes 0-99", clip_id)
        ],
        "{rows:?}"
    );
    assert_eq!(rows[0]["incident_id"], json!(incident));
    assert_eq!(rows[0]["camera_id"], clip["camera_id"]);
    assert_eq!(rows[0]["actor"], downloads[1]["actor"]);

    // Residents never; a responder of a post the incident is not theirs: as if unknown.
    let (_, resident) = hub.login_as("resident", None, None).await;
    let (status, _, _) = fetch(&hub, &url, &resident, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let post = store
        .create_post(
            serde_json::from_value(json!({"name": "其他警务室", "lat": 26.5, "lon": 107.9}))
                .unwrap(),
            clock.now(),
        )
        .await
        .unwrap();
    let (_, responder) = hub.login_as("responder", Some(&post.id), None).await;
    let (status, _, _) = fetch(&hub, &url, &responder, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unknown = format!("/api/v1/incidents/{incident}/clips/nope");
    assert_eq!(
        fetch(&hub, &unknown, &duty, None).await.0,
        StatusCode::NOT_FOUND
    );

    // A loop of whole downloads (saves: each one recorded) by one person stops at the
    // minute's allowance (three are used above, the refused one included): 429 with
    // Retry-After, no video, nothing recorded.
    let allowance = gridwatch_hub::http::exports::DOWNLOADS_PER_MINUTE - 3;
    let mut served = 0;
    let refused = loop {
        let (status, headers, body) = fetch(&hub, &url, &duty, None).await;
        if status != StatusCode::OK {
            break (status, headers, body);
        }
        served += 1;
        assert!(served <= allowance, "no limit after {served} downloads");
    };
    assert_eq!(served, allowance);
    assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.1.contains_key(header::RETRY_AFTER));
    let body: Value = serde_json::from_slice(&refused.2).expect("a JSON error, not video");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let downloads = timeline_of(&hub, &incident, &duty)
        .await
        .iter()
        .filter(|e| e["type"] == "incident.evidence_downloaded")
        .count();
    assert_eq!(
        downloads,
        2 + allowance,
        "each one served is recorded, no other"
    );

    // `gridwatch evidence verify` passes, and fails once the clip is altered.
    let evidence_dir = tmp.path().join("evidence");
    let (ok, out) = cli_verify(&db, &evidence_dir, false);
    assert!(ok, "{out}");
    let sealed = store.evidence_clips(&incident).await.unwrap();
    let handover = Handover {
        hub: &hub,
        clock: &clock,
        incident: &incident,
        url: format!("{url}/manifest"),
        clip,
        sealed_manifest: evidence_dir.join(&sealed[0].manifest_file),
        scratch: tmp.path(),
    };
    handover.check(&duty, &resident, &copy).await;
    let package = format!("/api/v1/incidents/{incident}/evidence.zip");
    check_package(&hub, &package, &incident, (&duty, &resident), tmp.path()).await;
    let file = evidence_dir.join(&sealed[0].file);
    assert_eq!(hash_file(&file).unwrap().0, sha);
    let mut altered = std::fs::read(&file).unwrap();
    let at = altered.len() - 10;
    altered[at] ^= 0x01;
    std::fs::write(&file, &altered).unwrap();
    let (ok, out) = cli_verify(&db, &evidence_dir, false);
    assert!(!ok && out.contains("PROBLEM"), "{out}");
    // Nor is a package of it sent, nor recorded as taken.
    let taken = |t: Vec<Value>| {
        t.iter()
            .filter(|e| e["type"] == "incident.evidence_downloaded")
            .count()
    };
    let before = taken(timeline_of(&hub, &incident, &duty).await);
    let (status, _, body) = fetch(&hub, &package, &duty, None).await;
    let error: Value = serde_json::from_slice(&body).expect("a JSON error, not a package");
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("clip_altered")),
        "{error}"
    );
    assert_eq!(taken(timeline_of(&hub, &incident, &duty).await), before);
    // Another post's responder: as if the incident did not exist.
    assert_eq!(
        fetch(&hub, &package, &responder, None).await.0,
        StatusCode::NOT_FOUND
    );

    // Retention never deletes the locked recordings while the incident is open, however old.
    let recorder = state.recording.recorder().cloned().unwrap();
    let policy = state.recording.policy(&store).await.unwrap();
    let limits = state.recording.limits();
    let pass = retention::run(
        &store,
        &recorder,
        &policy,
        limits,
        raised + Duration::days(40),
    )
    .await
    .unwrap();
    assert_eq!(pass.deleted_for_age, 0, "{pass:?}");

    // Closed: the lock holds for lock_days after the close, then lets retention have it.
    let cancelled = hub
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/cancel"),
            Some(&duty),
            Some(json!({"reason": "误报"})),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let closed = store.incident(&incident).await.unwrap().closed_at.unwrap();
    assert_eq!(
        evidence::tick(&state.recording).await.unwrap().locks_ended,
        1
    );
    let locks = store.recording_locks(&camera, from, to).await.unwrap();
    assert_eq!(locks[0].until, Some(closed + Duration::days(90)));
    let still_locked = closed + Duration::days(89);
    let pass = retention::run(&store, &recorder, &policy, limits, still_locked)
        .await
        .unwrap();
    assert_eq!(pass.deleted_for_age, 0, "{pass:?}");
    let recorded = store
        .recording_segments(&camera, "main", from, to)
        .await
        .unwrap()
        .len() as u64;
    let pass = retention::run(
        &store,
        &recorder,
        &policy,
        limits,
        closed + Duration::days(91),
    )
    .await
    .unwrap();
    assert!(pass.deleted_for_age >= recorded, "{pass:?} of {recorded}");
    // The sealed clip is a file of its own: it outlives the segments it was cut from.
    assert!(file.exists());

    state.cameras.registry.clear();
    tokio::task::spawn_blocking(move || recorder.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_get_sealed_clips_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    incidents_get_sealed_clips(fresh_sqlite_url(tmp.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_get_sealed_clips_postgres() {
    incidents_get_sealed_clips(fresh_postgres_url().await.unwrap()).await;
}

/// A clip handed over with its manifest (`url`), as downloaded by the duty officer.
struct Handover<'a> {
    hub: &'a Hub,
    clock: &'a gridwatch_core::clock::ManualClock,
    incident: &'a str,
    url: String,
    /// The clip as listed.
    clip: &'a Value,
    /// The manifest in the evidence directory.
    sealed_manifest: std::path::PathBuf,
    scratch: &'a std::path::Path,
}

impl Handover<'_> {
    /// The manifest downloads as sealed, with its SHA-256 (the listed one); `gridwatch
    /// evidence check` passes on it and the downloaded clip (`copy`) and fails on an altered
    /// copy; residents never get it; a manifest altered on the hub is not sent (409), one
    /// missing is 410. The one sent is on the incident's timeline, who and which clip; it
    /// counts in the person's downloads a minute (used up above: 429 until a minute later).
    async fn check(&self, duty: &str, resident: &str, copy: &std::path::Path) {
        let manifest_downloads = || async {
            timeline_of(self.hub, self.incident, duty)
                .await
                .into_iter()
                .filter(|e| e["type"] == "incident.manifest_downloaded")
                .collect::<Vec<Value>>()
        };
        assert!(manifest_downloads().await.is_empty());
        let (status, _, _) = fetch(self.hub, &self.url, duty, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            manifest_downloads().await.is_empty(),
            "refused, not recorded"
        );
        self.clock.advance(chrono::Duration::seconds(61));
        let (status, headers, body) = fetch(self.hub, &self.url, duty, None).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let audited = manifest_downloads().await;
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!(audited[0]["data"]["clip_id"], self.clip["id"]);
        assert_eq!(
            audited[0]["data"]["manifest_sha256"],
            self.clip["manifest_sha256"]
        );
        assert!(audited[0]["actor"].as_str().unwrap().starts_with("user:"));
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("manifest"));
        let listed = self.clip["manifest_sha256"].as_str().unwrap();
        assert_eq!(headers["x-gridwatch-manifest-sha256"], listed);
        assert_eq!(gridwatch_ingest::evidence::sha256(&body), listed);
        assert_eq!(body, std::fs::read(&self.sealed_manifest).unwrap());
        let manifest = self.scratch.join("handed-over.json");
        std::fs::write(&manifest, &body).unwrap();

        let (ok, out) = cli_check(copy, &manifest);
        assert!(ok && out.contains(listed) && out.contains("OK"), "{out}");
        let altered = self.scratch.join("handed-over-altered.mp4");
        let mut bytes = std::fs::read(copy).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x04;
        std::fs::write(&altered, &bytes).unwrap();
        let (ok, out) = cli_check(&altered, &manifest);
        assert!(!ok && out.contains("PROBLEM"), "{out}");

        assert_eq!(
            fetch(self.hub, &self.url, resident, None).await.0,
            StatusCode::FORBIDDEN
        );
        let sealed = std::fs::read(&self.sealed_manifest).unwrap();
        let mut edited = sealed.clone();
        edited.insert(edited.len() - 1, b' ');
        std::fs::write(&self.sealed_manifest, &edited).unwrap();
        let (status, _, body) = fetch(self.hub, &self.url, duty, None).await;
        let error: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("manifest_altered")),
            "{error}"
        );
        std::fs::remove_file(&self.sealed_manifest).unwrap();
        let (status, _, body) = fetch(self.hub, &self.url, duty, None).await;
        let error: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (StatusCode::GONE, Some("manifest_missing")),
            "{error}"
        );
        std::fs::write(&self.sealed_manifest, &sealed).unwrap();
        // Neither refusal sent anything, so neither is on the timeline.
        assert_eq!(manifest_downloads().await.len(), 1);
    }
}

/// The incident's evidence package (`url`) as the duty officer takes it away: a ZIP archive
/// that Python's `zipfile` and Info-ZIP's `unzip` read and test (CRCs), whose `SHA256SUMS` passes `sha256sum -c`,
/// whose clip passes `gridwatch evidence check` against its manifest, with a note naming the
/// incident; recorded on the timeline, one event per clip; residents never.
async fn check_package(
    hub: &Hub,
    url: &str,
    incident: &str,
    (duty, resident): (&str, &str),
    scratch: &std::path::Path,
) {
    let packaged = |t: &Vec<Value>| {
        t.iter()
            .filter(|e| {
                e["type"] == "incident.evidence_downloaded" && e["data"]["range"] == "package"
            })
            .count()
    };
    assert_eq!(packaged(&timeline_of(hub, incident, duty).await), 0);
    let (status, headers, body) = fetch(hub, url, duty, None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers[header::CONTENT_TYPE], "application/zip");
    assert_eq!(headers[header::CONTENT_LENGTH], body.len().to_string());
    let zip = scratch.join("evidence.zip");
    std::fs::write(&zip, &body).unwrap();
    let out = scratch.join("unpacked");
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None, z.testzip()\n\
             z.extractall(sys.argv[2])\n\
             print('\\n'.join(sorted(z.namelist())))",
        ])
        .arg(&zip)
        .arg(&out)
        .output()
        .expect("python3 runs");
    let listed = String::from_utf8_lossy(&python.stdout).into_owned();
    assert!(
        python.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&python.stderr)
    );
    // And Info-ZIP's unzip (the tool most would reach for) tests it too.
    let unzip = std::process::Command::new("unzip")
        .arg("-t")
        .arg(&zip)
        .output()
        .expect("unzip runs (deploy/setup.sh installs it)");
    let said = String::from_utf8_lossy(&unzip.stdout).into_owned();
    assert!(
        unzip.status.success() && said.contains("No errors detected"),
        "{said}"
    );
    let names: Vec<&str> = listed.lines().collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(&names[..2], ["README.txt", "SHA256SUMS"]);
    let (clip, manifest) = (names[2], names[3]);
    assert!(
        clip.starts_with("clips/") && clip.ends_with(".mp4"),
        "{clip}"
    );
    assert!(manifest.starts_with("manifests/"), "{manifest}");
    let sums = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .expect("sha256sum runs");
    let said = String::from_utf8_lossy(&sums.stdout).into_owned();
    assert!(
        sums.status.success() && said.matches(": OK").count() == 2,
        "{said}"
    );
    let (ok, said) = cli_check(&out.join(clip), &out.join(manifest));
    assert!(ok && said.contains("OK"), "{said}");
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(
        readme.contains(incident) && readme.contains("sha256sum -c"),
        "{readme}"
    );
    assert_eq!(packaged(&timeline_of(hub, incident, duty).await), 1);
    assert_eq!(
        fetch(hub, url, resident, None).await.0,
        StatusCode::FORBIDDEN
    );
}

/// `gridwatch evidence check` of a clip and its manifest; whether it passed, what it printed.
fn cli_check(clip: &std::path::Path, manifest: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .args(["evidence", "check", "--clip"])
        .arg(clip)
        .arg("--manifest")
        .arg(manifest)
        // Away from the centre: no configuration to read (a file it cannot read is ignored).
        .env("GRIDWATCH_CONFIG", "/nonexistent/gridwatch.toml")
        .env("GRIDWATCH_LOG__FILTER", "warn")
        .output()
        .expect("gridwatch runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The incident's timeline, as `token`'s holder reads it.
async fn timeline_of(hub: &Hub, incident: &str, token: &str) -> Vec<Value> {
    let read = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{incident}"),
            Some(token),
            None,
        )
        .await;
    read.body["incident"]["timeline"]
        .as_array()
        .unwrap()
        .clone()
}
