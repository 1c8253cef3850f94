//! The `gridwatch` binary: the one program a community security centre runs.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gridwatch_core::clock::{Clock, SystemClock};
use gridwatch_hub::config::{redact_url, Config, LogFormat};
use gridwatch_hub::{demo, server};
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;

/// gridwatch — real-time video and alert hub of a community security centre (社区综治中心).
///
/// Residents raise SOS from a phone or a panic button; duty officers watch the live wall and
/// dispatch; police posts and grid workers acknowledge, go, and arrive — within 15 minutes.
///
/// Configuration comes from built-in defaults, then the TOML file given with --config, then
/// environment variables: GRIDWATCH_LISTEN, GRIDWATCH_DATABASE_URL, GRIDWATCH_DATA_DIR, and
/// GRIDWATCH_SECTION__FIELD for nested fields (e.g. GRIDWATCH_AUTH__SESSION_HOURS=8).
/// `gridwatch config` prints the result.
#[derive(Parser)]
#[command(name = "gridwatch", version, max_term_width = 100)]
struct Cli {
    /// Configuration file (TOML). Every field is optional; see deploy/gridwatch.example.toml.
    #[arg(
        long,
        short,
        global = true,
        env = "GRIDWATCH_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub: HTTP API, pages and real-time stream, until SIGTERM or Ctrl-C.
    Serve,
    /// Run an ingest worker: claim cameras by leases in the shared database (up to
    /// `[ingest] max_cameras`), run them, and serve their live video and snapshots to hubs
    /// (`[ingest] secret`) on `listen`, until SIGTERM or Ctrl-C.
    Ingest,
    /// Run the hub with a demo community (grids, posts, one user of each role, panic buttons)
    /// on the embedded SQLite database, and print the logins and URLs to open.
    Demo,
    /// Apply the database migrations this binary carries, then exit.
    Migrate,
    /// Print the configuration in force (defaults + file + environment) as TOML, passwords
    /// shown as ***.
    Config,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage panic buttons.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Serve simulated RTSP cameras (a moving test pattern with a clock) at
    /// rtsp://127.0.0.1:PORT/cam1..camN, to try the hub without owning a camera.
    Camsim(CamsimArgs),
    /// Evidence clips and their manifests.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Check the chain of manifests and every clip (and the recorded segments they came from,
    /// while kept) against their hashes; exits with 1 if anything was altered or removed.
    Verify(EvidenceVerify),
    /// Check a clip handed over with its manifest (downloaded from the incident: the clip and
    /// its "manifest" link), away from the centre: the clip must be the one the manifest
    /// describes; prints the manifest's SHA-256 to compare with the centre's record (the
    /// clip list's manifest_sha256). Exits with 1 if the clip does not match. Needs no
    /// database or configuration.
    Check(EvidenceCheck),
}

#[derive(Args)]
struct EvidenceCheck {
    /// The clip (MP4) as received.
    #[arg(long, value_name = "FILE")]
    clip: PathBuf,
    /// Its manifest (JSON) as received.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
}

#[derive(Args)]
struct EvidenceVerify {
    /// The evidence directory (default: `[evidence] dir`, else <data_dir>/evidence).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Check the directory on its own, without the database (an exported copy).
    #[arg(long)]
    offline: bool,
}

#[derive(Args)]
struct CamsimArgs {
    /// How many cameras to serve.
    #[arg(long, default_value_t = 4)]
    cameras: usize,
    /// RTSP port (0 picks a free one).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Require this username (with --password, Digest authentication).
    #[arg(long, requires = "password")]
    username: Option<String>,
    #[arg(long, requires = "username")]
    password: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input (one line).
    Add(UserAdd),
}

#[derive(Args)]
struct UserAdd {
    #[arg(long)]
    username: String,
    /// admin, duty_officer, responder or resident.
    #[arg(long)]
    role: String,
    /// The post a responder belongs to (required for responders).
    #[arg(long, value_name = "POST_ID")]
    post: Option<String>,
    /// The grid a resident lives in.
    #[arg(long, value_name = "GRID_ID")]
    grid: Option<String>,
    /// The name shown to others (defaults to the username).
    #[arg(long)]
    display_name: Option<String>,
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Register a panic button and print its token (shown this once).
    Add(DeviceAdd),
}

#[derive(Args)]
struct DeviceAdd {
    #[arg(long)]
    name: String,
    #[arg(long, value_name = "GRID_ID")]
    grid: String,
    /// Where the button is, as a responder would look for it.
    #[arg(long)]
    address: Option<String>,
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    lat: Option<f64>,
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    lon: Option<f64>,
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log.filter).unwrap_or_else(|e| {
        eprintln!(
            "log.filter {:?} is not valid ({e}); using \"info\"",
            config.log.filter
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    // retina and other crates log through `log`; the subscriber's default features bridge it.
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // What the hub writes — the database, its key, recordings, evidence — holds residents'
    // names, phones and pictures: readable by the hub's own user only (0600 files, 0700
    // directories), whatever umask it was started with.
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    // A hand-over is checked wherever it was received: no configuration, no database.
    if let Command::Evidence(EvidenceCommand::Check(a)) = cli.command {
        return evidence_check(a);
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Config = cli.command {
        print!("{}", config.redacted().to_toml());
        return Ok(());
    }
    init_logging(&config);
    match cli.command {
        Command::Serve => server::serve(config).await,
        Command::Ingest => gridwatch_hub::server::worker::serve(config).await,
        Command::Demo => run_demo(config).await,
        Command::Migrate => {
            let store = server::open_store(&config).await?;
            store.close().await;
            println!(
                "migrations applied to {}",
                redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::User(UserCommand::Add(a)) => user_add(config, a).await,
        Command::Device(DeviceCommand::Add(a)) => device_add(config, a).await,
        Command::Camsim(a) => camsim(a).await,
        Command::Evidence(EvidenceCommand::Verify(a)) => evidence_verify(config, a).await,
        Command::Evidence(EvidenceCommand::Check(_)) => unreachable!("handled above"),
        Command::Config => unreachable!("handled above"),
    }
}

async fn evidence_verify(config: Config, a: EvidenceVerify) -> anyhow::Result<()> {
    let dir = a
        .dir
        .unwrap_or_else(|| config.evidence.dir_in(&config.data_dir));
    let store = match a.offline {
        true => None,
        false => Some(server::open_store(&config).await?),
    };
    let report = gridwatch_hub::recording::verify_evidence(store.as_ref(), &dir)
        .await
        .with_context(|| format!("verifying {}", dir.display()))?;
    println!(
        "{}: {} manifests, {} clips checked, {} segments checked, {} no longer kept",
        dir.display(),
        report.manifests,
        report.clips_checked,
        report.segments_checked,
        report.segments_unavailable
    );
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    if !report.is_ok() {
        std::process::exit(1);
    }
    println!("OK: the chain and every file are as sealed");
    Ok(())
}

fn evidence_check(a: EvidenceCheck) -> anyhow::Result<()> {
    let found = gridwatch_ingest::evidence::check_handover(&a.clip, &a.manifest)?;
    let m = &found.manifest;
    println!(
        "manifest {} (no. {}): incident {}, camera {}, {} to {}",
        a.manifest.display(),
        m.seq,
        m.incident_id,
        m.camera_id,
        m.clip.from.to_rfc3339(),
        m.clip.to.to_rfc3339()
    );
    println!("manifest SHA-256: {}", found.manifest_sha256);
    println!(
        "clip {}: SHA-256 {}, {} bytes",
        a.clip.display(),
        found.clip_sha256,
        found.clip_bytes
    );
    if !found.clip_matches() {
        println!(
            "PROBLEM: the manifest describes a clip with SHA-256 {}, {} bytes: this is not it",
            m.clip.sha256, m.clip.bytes
        );
        std::process::exit(1);
    }
    println!(
        "OK: the clip is the one the manifest describes; compare the manifest's SHA-256 with \
         the centre's record of it"
    );
    Ok(())
}

async fn user_add(config: Config, a: UserAdd) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.lines().next().unwrap_or("").to_string();
    let store = server::open_store(&config).await?;
    let new = serde_json::from_value(json!({
        "username": a.username, "password": password, "role": a.role,
        "display_name": a.display_name, "post_id": a.post, "grid_id": a.grid,
    }))
    .context("role must be one of admin, duty_officer, responder, resident")?;
    let user = store.create_user(new, SystemClock.now()).await?;
    store.close().await;
    println!("{}", serde_json::to_string_pretty(&user)?);
    Ok(())
}

async fn device_add(config: Config, a: DeviceAdd) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let new = serde_json::from_value(json!({
        "name": a.name, "grid_id": a.grid, "address": a.address, "lat": a.lat, "lon": a.lon,
    }))?;
    let (device, token) = store.create_device(new, SystemClock.now()).await?;
    store.close().await;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({"device": device, "token": token}))?
    );
    eprintln!("Keep the token: it is shown only this once.");
    Ok(())
}

async fn camsim(a: CamsimArgs) -> anyhow::Result<()> {
    use gridwatch_ingest::camsim::{CamSim, CamSimConfig};
    let sim = CamSim::start(CamSimConfig {
        cameras: a.cameras,
        port: a.port,
        credentials: a.username.zip(a.password),
        ..CamSimConfig::default()
    })?;
    for url in sim.urls() {
        println!("{url}");
    }
    server::shutdown_signal().await;
    drop(sim);
    Ok(())
}

async fn run_demo(mut config: Config) -> anyhow::Result<()> {
    if config.database_url.starts_with("postgres") {
        anyhow::bail!("the demo runs on the embedded SQLite database; unset database_url");
    }
    if config.data_dir == Config::default().data_dir {
        config.data_dir = PathBuf::from("gridwatch-demo");
    }
    // The demo records its cameras into its data directory, at most 2 GiB of them, so that
    // playback and evidence clips have something to show.
    if !config.recording.enabled() {
        config.recording.dirs = vec![gridwatch_hub::recording::config::SampleDir::Limited(
            gridwatch_hub::recording::config::LimitedDir {
                path: config.data_dir.join("recordings"),
                max_bytes: 2 << 30,
                min_free_bytes: 1 << 30,
            },
        )];
    }
    let store = server::open_store(&config).await?;
    let community = demo::seed(&store, &SystemClock).await?;
    // Simulated cameras, so that a newcomer has something to look at. The demo runs without
    // them if GStreamer's plugins are missing.
    let sim =
        match gridwatch_ingest::camsim::CamSim::start(gridwatch_ingest::camsim::CamSimConfig {
            cameras: demo::DEMO_CAMERAS.len(),
            // The first (the east gate, calibrated by `demo::register_cameras`) is a 360°
            // camera showing the fisheye test pattern.
            source: gridwatch_ingest::camsim::SimSource::Fisheye(vec![1]),
            ..Default::default()
        }) {
            Ok(sim) => {
                demo::register_cameras(&store, &SystemClock, &sim.urls()).await?;
                Some(sim)
            }
            Err(e) => {
                tracing::warn!(error = %e, "camera simulator not started; the demo has no cameras");
                None
            }
        };
    let running = server::start(config.clone(), store.clone(), server::shutdown_signal()).await?;
    let base = format!("http://{}", running.addr);
    println!();
    println!("gridwatch demo — 清江社区 (Qingjiang community)");
    println!("  data:       {}", config.data_dir.display());
    for dir in &config.recording.dirs {
        println!("  recordings: {}", dir.path().display());
    }
    println!("  open:       {base}/");
    println!("  ready:      {base}/readyz");
    println!("  API:        {base}/api/openapi.json");
    println!("  metrics:    {base}/metrics");
    println!();
    println!("  logins (username / password):");
    for (user, password, role, display) in demo::DEMO_USERS {
        println!("    {user:<10} {password:<15} {role:<13} {display}");
    }
    println!();
    if let Some(sim) = &sim {
        println!("  simulated cameras:");
        for url in sim.urls() {
            println!("    {url}");
        }
    }
    println!("  grids:");
    for (id, name) in &community.grids {
        println!("    {id}  {name}");
    }
    println!("  panic buttons (Bearer tokens, new for this run):");
    for (id, name, token) in &community.devices {
        println!("    {name}\n      id {id}\n      token {token}");
    }
    println!();
    println!(
        "  try:  curl -s {base}/api/v1/me -H 'Authorization: Bearer {}'",
        community
            .devices
            .first()
            .map(|d| d.2.as_str())
            .unwrap_or("TOKEN")
    );
    println!("  stop: Ctrl-C");
    println!();
    running.task.await??;
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
