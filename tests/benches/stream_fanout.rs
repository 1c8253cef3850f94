//! Fan-out of the real-time stream: how long an SOS takes from its 201 to the screen of every
//! one of 10,000 duty-officer consoles connected at once, what an idle console costs the hub,
//! and the same fan-out through Mosquitto for comparison. Not a test: it prints figures, and
//! fails only if a console (or subscriber) missed an event.
//!
//! ```sh
//! cargo build --release --bin gridwatch
//! cargo bench -p gridwatch-tests --bench stream_fanout
//! FANOUT_CONSOLES=500 FANOUT_EVENTS=20 cargo bench -p gridwatch-tests --bench stream_fanout
//! ```
//!
//! What it does, in one run:
//! 1. raises its file limit (RLIMIT_NOFILE) to the hard limit, so that it, the hub and the
//!    broker (children, which inherit it) can hold every connection;
//! 2. starts the hub (`GRIDWATCH_BIN`, else `target/release/gridwatch`, else
//!    `target/debug/gridwatch`) with `serve` on a fresh SQLite database, a free loopback port,
//!    its own data directory and log filter `warn`; one post, one grid, one duty officer, one
//!    responder of the post and one panic button per SOS are created first, straight through
//!    the store (a button pressing again within 120 s would be a repeat of its incident, and
//!    presses are rate-limited per caller);
//! 3. connects the responder's console (the post is online, as it normally is, so a dispatch
//!    is not also flagged `incident.undelivered`), then `FANOUT_CONSOLES` (default 10000)
//!    WebSocket consoles on `/api/v1/stream?token=…` as the duty officer (who sees every
//!    event: `incident.raised` and `incident.dispatched` per SOS), each past its `hello`, and
//!    prints the hub's RSS growth per idle connection (`/proc/PID/status`);
//! 4. raises `FANOUT_EVENTS` (default 50) SOS, `FANOUT_SPACING_MS` (default 100) apart, with
//!    `POST /api/v1/sos` from distinct buttons; each console notes when the `incident.raised`
//!    of each incident arrives (the incident id is found in the text, not parsed, to keep the
//!    clients cheap). Printed: per event and over all, the delay from the 201 (and from the
//!    request being sent) to the arrival at every console, p50/p99/max; an arrival before the
//!    201 counts as 0 and is counted;
//! 5. closes the consoles, starts its own Mosquitto (`MOSQUITTO_BIN`, else
//!    `/usr/sbin/mosquitto`) on a free port, connects as many MQTT subscribers (QoS 0, one
//!    topic), publishes the texts of the `incident.raised` events the consoles received (same
//!    payloads, same number, same spacing) and measures publish-to-arrival the same way, then
//!    prints the ratios hub/Mosquitto.
//!
//! Everything runs on this machine: the hub, the broker and all the clients share its cores
//! (the output says how many, and the load average), so the figures include the clients' own
//! scheduling; on loopback the sender also pays for the receiver's TCP processing. The CPU
//! time the hub, the broker and the clients used in each phase is printed too: it depends
//! less on what else the machine is doing than the latencies. At the default spacing 10,000
//! consoles may need more than two cores can give (the delays then include queueing);
//! `FANOUT_SPACING_MS=1000` measures one fan-out at a time.

mod common;

use chrono::Utc;
use common::{binary, cpu_time, env_usize, free_port, ms, spread, start_hub, Proc, Spread};
use futures::StreamExt;
use gridwatch_core::user::NewUser;
use gridwatch_core::Role;
use gridwatch_store::{Store, StoreOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Connections being opened at once (the listen backlogs are far larger).
const CONNECTING: usize = 64;

/// How long after the last SOS (or publish) the stragglers may take before they are missing.
const STRAGGLERS: Duration = Duration::from_secs(30);

/// The MQTT topic the subscribers listen on.
const TOPIC: &str = "gridwatch/bench/fanout";

/// Raises the soft file limit to the hard one; returns it. Children inherit it.
fn raise_file_limit() -> libc::rlim_t {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            panic!("getrlimit: {}", std::io::Error::last_os_error());
        }
        r.rlim_cur = r.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            panic!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    r.rlim_cur
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The 1-, 5- and 15-minute load averages: other work on the machine shows here.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A child process, killed when dropped.
/// The incident id of an `incident.raised` event's text, found without parsing: the first
/// `"id"` inside `"incident"` (serde_json writes an incident's keys sorted, and none before
/// `id` holds an object; checked against a full parse on the first console).
fn raised_id(text: &str) -> Option<&str> {
    if !text.contains(r#""type":"incident.raised""#) {
        return None;
    }
    let at = text.find(r#""incident":{"#)? + r#""incident":{"#.len();
    let rest = &text[at..];
    let at = rest.find(r#""id":""#)? + r#""id":""#.len();
    let rest = &rest[at..];
    Some(&rest[..rest.find('"')?])
}

/// When each incident's `incident.raised` reached one client.
type Arrivals = Vec<(Box<str>, Instant)>;

/// The sessions and buttons of a run.
struct Community {
    /// A duty officer's session: the consoles measured.
    officer: String,
    /// A responder of the post's session: its console keeps the post online, so that a
    /// dispatch is not also flagged as undelivered (the normal case).
    responder: String,
    /// One panic button per SOS.
    buttons: Vec<String>,
}

async fn community(url: &str, buttons: usize) -> Community {
    let mut opts = StoreOptions::new(url);
    opts.max_connections = 4;
    let store = Store::open(&opts).await.expect("the database opens");
    let now = Utc::now();
    let (post, grid) = common::post_and_grid(&store, now).await;
    let officer = store
        .create_user(
            NewUser {
                username: "duty-bench".into(),
                password: "fanout-bench-password".into(),
                role: Role::DutyOfficer,
                display_name: Some("值班员".into()),
                post_id: None,
                grid_id: None,
                phone: None,
                address: None,
            },
            now,
        )
        .await
        .unwrap();
    let responder = store
        .create_user(
            NewUser {
                username: "post-bench".into(),
                password: "fanout-bench-password".into(),
                role: Role::Responder,
                display_name: Some("一号警务室".into()),
                post_id: Some(post.id),
                grid_id: None,
                phone: None,
                address: None,
            },
            now,
        )
        .await
        .unwrap();
    let mut sessions = vec![];
    for user in [officer, responder] {
        let session = store
            .open_session(user, chrono::Duration::hours(12), now)
            .await
            .unwrap();
        sessions.push(session.token);
    }
    let tokens = common::buttons(&store, &grid.id, buttons, now).await;
    store.close().await;
    let responder = sessions.pop().unwrap();
    Community {
        officer: sessions.pop().unwrap(),
        responder,
        buttons: tokens,
    }
}

/// What one console saw: the `incident.raised` arrivals, the texts of those (first console
/// only) and how many messages it had after its hello.
type Seen = (Arrivals, Vec<String>, usize);

/// One console: connects, takes its hello, then notes every `incident.raised` until `stop`.
/// The first console (`keep`) also keeps the texts, for the MQTT payloads.
async fn console(
    url: String,
    keep: bool,
    connected: Arc<Semaphore>,
    seen: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<Seen, String> {
    let permit = connected.acquire().await.unwrap();
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before every read:
    // a small one keeps the 10,000 clients from costing more than the hub they measure.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains(r#""type":"hello""#) => {}
        other => return Err(format!("expected a hello first, got {other:?}")),
    }
    drop(permit);
    let (mut arrivals, mut texts, mut messages) = (Vec::with_capacity(64), vec![], 0);
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    messages += 1;
                    if let Some(id) = raised_id(&t) {
                        arrivals.push((Box::from(id), Instant::now()));
                        seen.fetch_add(1, Ordering::Relaxed);
                        if keep {
                            texts.push(t.as_str().to_owned());
                        }
                    }
                }
                // Pings are answered by tungstenite as it reads.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("the hub closed the stream".into()),
            },
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    Ok((arrivals, texts, messages))
}

/// One MQTT subscriber: connects, subscribes (QoS 0), then notes every publish until `stop`.
async fn subscriber(
    port: u16,
    n: usize,
    subscribed: Arc<Semaphore>,
    ready: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<Arrivals, String> {
    let permit = subscribed.acquire().await.unwrap();
    let mut opts = MqttOptions::new(format!("fanout-sub-{n}"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut events) = AsyncClient::new(opts, 8);
    client
        .subscribe(TOPIC, QoS::AtMostOnce)
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut permit = Some(permit);
    let mut arrivals = Vec::with_capacity(64);
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    if let Some(id) = std::str::from_utf8(&p.payload).ok().and_then(raised_id) {
                        arrivals.push((Box::from(id), at));
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    permit.take();
                    ready.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => return Err(format!("mqtt: {e}")),
            },
            _ = stop.changed() => break,
        }
    }
    drop(events);
    Ok(arrivals)
}

/// The delays from `origin` (per incident) to every arrival, per event and over all; the
/// number of arrivals before their origin (counted as 0) and of (client, event) pairs missing.
struct Delays {
    per_event: Vec<Vec<Duration>>,
    all: Vec<Duration>,
    early: usize,
    missing: usize,
}

fn delays(ids: &[String], origin: &[Instant], clients: &[Arrivals]) -> Delays {
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.as_str(), n))
        .collect();
    let mut d = Delays {
        per_event: vec![Vec::with_capacity(clients.len()); ids.len()],
        all: Vec::with_capacity(clients.len() * ids.len()),
        early: 0,
        missing: 0,
    };
    for arrivals in clients {
        let mut got = vec![false; ids.len()];
        for (id, at) in arrivals {
            let Some(&n) = index.get(&**id) else { continue };
            if std::mem::replace(&mut got[n], true) {
                continue;
            }
            let delay = match at.checked_duration_since(origin[n]) {
                Some(delay) => delay,
                None => {
                    d.early += 1;
                    Duration::ZERO
                }
            };
            d.per_event[n].push(delay);
            d.all.push(delay);
        }
        d.missing += got.iter().filter(|g| !**g).count();
    }
    d
}

/// Waits until `seen` reaches `want` or `STRAGGLERS` has passed.
async fn settle(seen: &AtomicUsize, want: usize) {
    let deadline = Instant::now() + STRAGGLERS;
    while seen.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything still in flight for a duplicate or late frame.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// What the hub phase hands to the MQTT phase and the summary.
struct HubRun {
    from_201: Spread,
    from_send: Spread,
    missing: usize,
    payloads: Vec<String>,
}

async fn hub_phase(consoles: usize, events: usize, spacing: Duration) -> Result<HubRun, String> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gridwatch.db").display());
    let Community {
        officer,
        responder,
        buttons,
    } = community(&url, events).await;
    // 10,000 clients from one address: the flood rule (issue 15) would give most of them
    // SOS-only connections, so the share per address is lifted for the measurement.
    let (hub, base) = start_hub(
        dir.path(),
        &url,
        &[
            ("GRIDWATCH_LOG__FILTER", "warn"),
            ("GRIDWATCH_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "1000000"),
        ],
    )
    .await?;
    let pid = hub.0.id();
    println!("hub: pid {pid}");
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The post's console first, then the duty officers' consoles.
    let stream_url = format!("{}/api/v1/stream?token=", base.replace("http://", "ws://"));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let seen = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop) = watch::channel(false);
    let post_console = tokio::spawn(console(
        format!("{stream_url}{responder}"),
        false,
        connecting.clone(),
        Arc::new(AtomicUsize::new(0)),
        stop.clone(),
    ));
    while stream_connections(&http, &base).await < 1 {
        if post_console.is_finished() {
            return Err(format!("the post's console: {:?}", post_console.await));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_before = rss_kib(pid);
    let ws_url = format!("{stream_url}{officer}");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(consoles);
    for n in 0..consoles {
        tasks.push(tokio::spawn(console(
            ws_url.clone(),
            n == 0,
            connecting.clone(),
            seen.clone(),
            stop.clone(),
        )));
    }
    // All connected when every permit is free again and the hub counts them all.
    loop {
        let finished = tasks.iter().filter(|t| t.is_finished()).count();
        if finished > 0 {
            let failed = tasks.into_iter().find(|t| t.is_finished()).unwrap();
            return Err(format!(
                "a console ended while connecting: {:?}",
                failed.await.unwrap().err()
            ));
        }
        let open = stream_connections(&http, &base).await;
        if open > consoles as u64 && connecting.available_permits() == CONNECTING {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {open} consoles connected after 300 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let per_conn = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / consoles as f64;
    println!(
        "hub: {consoles} consoles connected in {:.1} s; RSS {:.1} MiB idle before, {:.1} MiB \
         after = {:.1} KiB per idle connection (aim < 20 KB)",
        connect_time.as_secs_f64(),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        per_conn / 1024.0,
    );

    // The SOS, one at a time, from distinct buttons.
    let mut sent = Vec::with_capacity(events);
    let mut answered = Vec::with_capacity(events);
    let mut ids = Vec::with_capacity(events);
    let (hub_cpu, own_cpu, wall) = (cpu_time(pid), cpu_time(std::process::id()), Instant::now());
    let mut tick = tokio::time::interval(spacing);
    for token in &buttons {
        tick.tick().await;
        let t_send = Instant::now();
        let resp = http
            .post(format!("{base}/api/v1/sos"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("POST /api/v1/sos: {e}"))?;
        let t_201 = Instant::now();
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("SOS answer: {e}"))?;
        if status != 201 {
            return Err(format!("SOS answered {status}: {body}"));
        }
        let id = body["incident"]["id"]
            .as_str()
            .ok_or_else(|| format!("no incident id in {body}"))?;
        sent.push(t_send);
        answered.push(t_201);
        ids.push(id.to_owned());
    }
    settle(&seen, consoles * events).await;
    println!(
        "hub: CPU while raising and delivering: hub {:.0} ms ({:.1} ms per SOS), clients \
         {:.0} ms, over {:.1} s of wall time; load average now {}",
        ms(cpu_time(pid) - hub_cpu),
        ms(cpu_time(pid) - hub_cpu) / events as f64,
        ms(cpu_time(std::process::id()) - own_cpu),
        wall.elapsed().as_secs_f64(),
        load()
    );
    let _ = stop_tx.send(true);
    let mut clients = Vec::with_capacity(consoles);
    let mut payloads = vec![];
    let mut errors = vec![];
    let mut messages = 0;
    for (n, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok((arrivals, texts, m)) => {
                if n == 0 {
                    payloads = texts;
                }
                messages += m;
                clients.push(arrivals);
            }
            Err(e) => {
                errors.push(e);
                clients.push(vec![]);
            }
        }
    }
    // The cheap matcher agrees with a full parse.
    for t in &payloads {
        let v: serde_json::Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
        if v["incident"]["id"].as_str() != raised_id(t) {
            return Err(format!("the id matcher is wrong on {t}"));
        }
    }
    if let Ok(Err(e)) = post_console.await {
        errors.push(format!("the post's console: {e}"));
    }
    drop(hub);
    println!(
        "hub: each duty console had {:.2} messages per SOS (incident.raised, its dispatch, …)",
        messages as f64 / (consoles * events) as f64
    );

    let mut d201 = delays(&ids, &answered, &clients);
    let mut dsend = delays(&ids, &sent, &clients);
    println!(
        "hub: {events} SOS {} ms apart; each event's delay from its 201 to every console:",
        spacing.as_millis()
    );
    for (n, per) in d201.per_event.iter_mut().enumerate() {
        let answer = answered[n] - sent[n];
        println!(
            "  SOS {:>3}  201 after {:>6.2} ms   {}   ({} consoles)",
            n + 1,
            ms(answer),
            spread(per),
            per.len()
        );
    }
    let from_201 = spread(&mut d201.all);
    let from_send = spread(&mut dsend.all);
    println!(
        "hub: all events, from the 201:            {from_201}   ({} arrivals before the 201, \
         counted as 0)",
        d201.early
    );
    println!(
        "hub: all events, from the request sent:   {from_send}   ({} arrivals before it)",
        dsend.early
    );
    println!(
        "hub: missing: {} of {} (console, event) pairs; {} consoles failed",
        d201.missing,
        consoles * events,
        errors.len()
    );
    if let Some(e) = errors.first() {
        println!("hub: first console failure: {e}");
    }
    if payloads.len() != events {
        return Err(format!(
            "the first console kept {} of {events} event texts",
            payloads.len()
        ));
    }
    Ok(HubRun {
        from_201,
        from_send,
        missing: d201.missing,
        payloads,
    })
}

/// The hub's `gridwatch_stream_connections` gauge.
async fn stream_connections(http: &reqwest::Client, base: &str) -> u64 {
    let Ok(r) = http.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("gridwatch_stream_connections "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// What the Mosquitto phase measured.
struct MqttRun {
    delay: Spread,
    missing: usize,
}

fn mosquitto(dir: &Path, port: u16) -> Result<Proc, String> {
    let bin = std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| "/usr/sbin/mosquitto".into());
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .map(Proc)
        .map_err(|e| format!("{bin} does not start: {e}"))
}

async fn mqtt_phase(
    subscribers: usize,
    payloads: &[String],
    spacing: Duration,
) -> Result<MqttRun, String> {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let broker = mosquitto(dir.path(), port)?;
    let pid = broker.0.id();
    println!("mosquitto: pid {pid}");
    let up = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if up.elapsed() > Duration::from_secs(10) {
            return Err("mosquitto does not listen after 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib(pid);

    let subscribing = Arc::new(Semaphore::new(CONNECTING));
    let ready = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(subscribers);
    for n in 0..subscribers {
        tasks.push(tokio::spawn(subscriber(
            port,
            n,
            subscribing.clone(),
            ready.clone(),
            seen.clone(),
            stop.clone(),
        )));
    }
    while ready.load(Ordering::Relaxed) < subscribers {
        if let Some(t) = tasks.iter_mut().find(|t| t.is_finished()) {
            return Err(format!(
                "a subscriber ended while subscribing: {:?}",
                t.await.unwrap().err()
            ));
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "only {} subscribers ready after 300 s",
                ready.load(Ordering::Relaxed)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    println!(
        "mosquitto: {subscribers} subscribers connected in {:.1} s; RSS {:.1} MiB before, \
         {:.1} MiB after = {:.1} KiB per idle connection",
        connect_time.as_secs_f64(),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        (rss_after.saturating_sub(rss_before)) as f64 / subscribers as f64,
    );

    // The publisher: its own connection, the same payloads, the same spacing.
    let mut opts = MqttOptions::new("fanout-publisher", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_max_packet_size(256 * 1024, 256 * 1024);
    let (publisher, mut pub_events) = AsyncClient::new(opts, 64);
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    let pub_loop = tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        loop {
            match pub_events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), connected)
        .await
        .map_err(|_| "the publisher does not connect".to_string())?
        .map_err(|_| "the publisher's loop ended".to_string())?;
    let mut ids = Vec::with_capacity(payloads.len());
    let mut published = Vec::with_capacity(payloads.len());
    let (broker_cpu, own_cpu, wall) = (cpu_time(pid), cpu_time(std::process::id()), Instant::now());
    let mut tick = tokio::time::interval(spacing);
    for text in payloads {
        tick.tick().await;
        let id = raised_id(text).ok_or("a payload without an incident id")?;
        ids.push(id.to_owned());
        published.push(Instant::now());
        publisher
            .publish(TOPIC, QoS::AtMostOnce, false, text.clone().into_bytes())
            .await
            .map_err(|e| format!("publish: {e}"))?;
    }
    settle(&seen, subscribers * payloads.len()).await;
    println!(
        "mosquitto: CPU while publishing and delivering: broker {:.0} ms ({:.1} ms per \
         message), clients {:.0} ms, over {:.1} s of wall time; load average now {}",
        ms(cpu_time(pid) - broker_cpu),
        ms(cpu_time(pid) - broker_cpu) / payloads.len() as f64,
        ms(cpu_time(std::process::id()) - own_cpu),
        wall.elapsed().as_secs_f64(),
        load()
    );
    let _ = stop_tx.send(true);
    let _ = publisher.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_loop).await;
    let mut clients = Vec::with_capacity(subscribers);
    let mut errors = vec![];
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => clients.push(a),
            Err(e) => {
                errors.push(e);
                clients.push(vec![]);
            }
        }
    }
    drop(broker);
    let mut d = delays(&ids, &published, &clients);
    let delay = spread(&mut d.all);
    println!(
        "mosquitto: all messages, from the publish:  {delay}   ({} arrivals before it)",
        d.early
    );
    println!(
        "mosquitto: missing: {} of {} (subscriber, message) pairs; {} subscribers failed",
        d.missing,
        subscribers * payloads.len(),
        errors.len()
    );
    if let Some(e) = errors.first() {
        println!("mosquitto: first subscriber failure: {e}");
    }
    Ok(MqttRun {
        delay,
        missing: d.missing,
    })
}

#[tokio::main]
async fn main() {
    let consoles = env_usize("FANOUT_CONSOLES", 10_000);
    let events = env_usize("FANOUT_EVENTS", 50);
    let spacing = Duration::from_millis(env_usize("FANOUT_SPACING_MS", 100) as u64);
    let files = raise_file_limit();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let bin = binary();
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map(|t| {
            chrono::DateTime::<Utc>::from(t)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_default();
    println!("hub: {} (built {built})", bin.display());
    println!(
        "machine: {cores} cores shared by the hub, Mosquitto and all {consoles} clients (one \
         process, loopback); file limit {files}; load average {} (other work on the machine counts too)",
        load()
    );
    if files < consoles as u64 + 512 {
        eprintln!("the file limit ({files}) is too low for {consoles} connections");
        std::process::exit(1);
    }
    let hub = match hub_phase(consoles, events, spacing).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hub: {e}");
            std::process::exit(1);
        }
    };
    let mqtt = match mqtt_phase(consoles, &hub.payloads, spacing).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mosquitto: {e}");
            std::process::exit(1);
        }
    };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "ratio hub/mosquitto at {consoles}: from the 201 p50 {:.2}  p99 {:.2}   from the \
         request sent p50 {:.2}  p99 {:.2}   (aim: p99 < 100 ms, ratio <= 2)",
        ratio(hub.from_201.p50, mqtt.delay.p50),
        ratio(hub.from_201.p99, mqtt.delay.p99),
        ratio(hub.from_send.p50, mqtt.delay.p50),
        ratio(hub.from_send.p99, mqtt.delay.p99),
    );
    if hub.missing > 0 || mqtt.missing > 0 {
        eprintln!(
            "missing: {} on the hub, {} on mosquitto",
            hub.missing, mqtt.missing
        );
        std::process::exit(1);
    }
}
