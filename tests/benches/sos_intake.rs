//! Durable SOS intake: how many presses per second the real hub answers 201 — each one
//! committed to the database before its answer — and the latency clients see, with 64
//! concurrent clients, on SQLite and on PostgreSQL. Not a test: it prints figures, and fails
//! only if something was lost (201s ≠ incidents stored, or a gap in the event log).
//!
//! ```sh
//! cargo build --release --bin gridwatch
//! cargo bench -p gridwatch-tests --bench sos_intake            # both backends
//! cargo bench -p gridwatch-tests --bench sos_intake -- sqlite  # or postgres
//! ```
//!
//! The hub is the `gridwatch` binary (`GRIDWATCH_BIN`, else `target/release/gridwatch`, else
//! `target/debug/gridwatch`), started with the default configuration on a fresh database
//! (PostgreSQL: a new database on `GRIDWATCH_TEST_POSTGRES`, as the test suites do). Each press
//! comes from its own panic button (a button pressing again within 120 s would be a repeat of
//! its incident), so the buttons are registered first, straight through the store.
//! `SOS_BENCH_PRESSES` (default 20000 on SQLite, 10000 on PostgreSQL) and `SOS_BENCH_CLIENTS`
//! (default 64) change the run.

mod common;

use chrono::Utc;
use common::{binary, env_usize, ms, spread, start_hub, Spread};
use gridwatch_core::access::Visibility;
use gridwatch_store::{Backend, IncidentFilter, Store, StoreOptions};

use std::sync::Arc;
use std::time::{Duration, Instant};

struct Figures {
    created: usize,
    other: usize,
    errors: usize,
    elapsed: Duration,
    /// Latency of the answered presses.
    latency: Spread,
}

/// Registers one post, one grid and `presses` buttons; returns the buttons' tokens.
async fn community(url: &str, presses: usize) -> Vec<String> {
    let mut opts = StoreOptions::new(url);
    opts.max_connections = 8;
    let store = Store::open(&opts).await.expect("the database opens");
    let now = Utc::now();
    let (_, grid) = common::post_and_grid(&store, now).await;
    let tokens = common::buttons(&store, &grid.id, presses, now).await;
    store.close().await;
    tokens
}

async fn press_all(base: &str, tokens: Vec<String>, clients: usize) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let tokens = Arc::new(tokens);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, tokens, next) = (client.clone(), tokens.clone(), next.clone());
        let url = format!("{base}/api/v1/sos");
        tasks.spawn(async move {
            let (mut lat, mut created, mut other, mut errors) = (vec![], 0, 0, 0);
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(token) = tokens.get(n) else { break };
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(r#"{"lat":31.2301,"lon":121.4737,"note":"bench"}"#)
                    .send()
                    .await;
                match r {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.bytes().await;
                        lat.push(t.elapsed());
                        if status == 201 {
                            created += 1;
                        } else {
                            other += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, created, other, errors)
        });
    }
    let (mut lat, mut created, mut other, mut errors) = (vec![], 0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        let (l, c, o, e) = r.unwrap();
        lat.extend(l);
        created += c;
        other += o;
        errors += e;
    }
    let elapsed = started.elapsed();
    Figures {
        created,
        other,
        errors,
        elapsed,
        latency: spread(&mut lat),
    }
}

/// What the database holds after the run: incidents (all dispatched) and a gap-free log.
async fn verify(url: &str, f: &Figures) -> Result<(), String> {
    let store = Store::open(&StoreOptions::new(url)).await.unwrap();
    let mut filter = IncidentFilter::new(Visibility::All);
    filter.limit = u32::MAX;
    let incidents = store.incidents(&filter).await.unwrap();
    let undispatched = incidents.iter().filter(|i| i.post_id.is_none()).count();
    let events = store.events_since(0, u32::MAX).await.unwrap();
    let gaps = events
        .iter()
        .enumerate()
        .filter(|(n, e)| e.seq != *n as i64 + 1)
        .count();
    store.close().await;
    if incidents.len() != f.created {
        return Err(format!(
            "{} presses answered 201 but {} incidents stored",
            f.created,
            incidents.len()
        ));
    }
    if undispatched > 0 || gaps > 0 {
        return Err(format!(
            "{undispatched} incidents not dispatched, {gaps} events out of seq"
        ));
    }
    Ok(())
}

async fn run(backend: Backend, clients: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (url, presses) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("gridwatch.db").display()),
            env_usize("SOS_BENCH_PRESSES", 20_000),
        ),
        Backend::Postgres => (
            gridwatch_store::testing::fresh_postgres_url()
                .await
                .map_err(|e| format!("PostgreSQL: {e}"))?,
            env_usize("SOS_BENCH_PRESSES", 10_000),
        ),
    };
    let setup = Instant::now();
    let tokens = community(&url, presses).await;
    eprintln!(
        "{backend:?}: {presses} buttons registered in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    // The default configuration (logging at info included), on this database.
    let (hub, base) = start_hub(dir.path(), &url, &[]).await?;
    let f = press_all(&base, tokens, clients).await;
    drop(hub);
    let rate = f.created as f64 / f.elapsed.as_secs_f64();
    println!(
        "{:<10} {:>6} SOS in {:>6.2} s = {:>7.0} SOS/s   p50 {:>6.1} ms   p99 {:>6.1} ms   \
         max {:>6.1} ms   ({} clients; {} not 201, {} failed)",
        format!("{backend:?}"),
        f.created,
        f.elapsed.as_secs_f64(),
        rate,
        ms(f.latency.p50),
        ms(f.latency.p99),
        ms(f.latency.max),
        clients,
        f.other,
        f.errors,
    );
    verify(&url, &f).await?;
    println!(
        "{:<10} verified: {} incidents stored, all dispatched, event log gap-free",
        format!("{backend:?}"),
        f.created
    );
    if f.other > 0 || f.errors > 0 {
        return Err(format!(
            "{} presses not answered 201, {} failed",
            f.other, f.errors
        ));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; any other argument picks backends.
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let clients = env_usize("SOS_BENCH_CLIENTS", 64);
    println!("hub: {}", binary().display());
    let mut failed = false;
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if want(name) {
            if let Err(e) = run(backend, clients).await {
                eprintln!("{name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
