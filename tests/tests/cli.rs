//! The `gridwatch` binary as an operator uses it: help, config, migrate, user and device
//! creation, serve with graceful shutdown, and the demo.

use crate::support;

use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{command, start};

#[test]
fn help_explains_every_subcommand() {
    let out = command(std::path::Path::new("/tmp"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "serve",
        "demo",
        "migrate",
        "user",
        "device",
        "config",
        "GRIDWATCH_DATABASE_URL",
    ] {
        assert!(text.contains(sub), "--help does not mention {sub}:\n{text}");
    }
    let out = command(std::path::Path::new("/tmp"))
        .args(["user", "add", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--username") && text.contains("standard input"),
        "{text}"
    );
}

#[test]
fn config_file_and_environment_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\n[auth]\nsession_hours = 8\n",
    )
    .unwrap();
    let out = command(dir.path())
        .args(["--config", file.to_str().unwrap(), "config"])
        .env("GRIDWATCH_AUTH__MAX_FAILED_LOGINS", "7")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: toml::Table = toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(cfg["listen"].as_str(), Some("127.0.0.1:9999"));
    assert_eq!(cfg["auth"]["session_hours"].as_integer(), Some(8));
    assert_eq!(cfg["auth"]["max_failed_logins"].as_integer(), Some(7));

    std::fs::write(&file, "[auth]\nsesion_hours = 8\n").unwrap();
    let out = command(dir.path())
        .args(["--config", file.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sesion_hours"),
        "the error should name the unknown field: {err}"
    );
}

#[test]
fn the_example_config_is_the_defaults() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/gridwatch.example.toml"
    );
    let dir = tempfile::tempdir().unwrap();
    let with_file = command(dir.path())
        .args(["--config", example, "config"])
        .env_remove("GRIDWATCH_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        with_file.status.success(),
        "{}",
        String::from_utf8_lossy(&with_file.stderr)
    );
    let defaults = command(dir.path())
        .arg("config")
        .env_remove("GRIDWATCH_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(with_file.stdout).unwrap(),
        String::from_utf8(defaults.stdout).unwrap(),
        "deploy/gridwatch.example.toml must show every field with its default"
    );
}

#[tokio::test]
async fn serve_with_cli_users_and_devices_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Create a grid-less admin and a resident from the command line, before serving.
    let user = support::add_user(dir.path(), None, "ops", "admin", "ops-password");
    assert_eq!(user["role"], "admin");

    let bad = command(dir.path())
        .args(["user", "add", "--username", "x1", "--role", "king"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = command(dir.path())
        .arg("serve")
        .env("GRIDWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    support::wait_ready(&base).await;
    let client = reqwest::Client::new();
    let login = support::json(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "ops", "password": "ops-password"})),
    )
    .await;
    let token = login["token"]
        .as_str()
        .expect("login gives a token")
        .to_string();
    let grid = support::json(
        client
            .post(format!("{base}/api/v1/grids"))
            .bearer_auth(&token)
            .json(&json!({"name": "CLI grid"})),
    )
    .await;
    let grid_id = grid["id"].as_str().unwrap();

    // A device registered from the command line while the hub runs can authenticate at once.
    let out = command(dir.path())
        .args(["device", "add", "--name", "gate button", "--grid", grid_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev: Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = support::json(
        client
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(dev["token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(me["device"]["name"], "gate button");

    // SIGTERM: the hub finishes and exits cleanly.
    let pid = serve.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = serve.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn migrate_and_serve_on_postgresql() {
    let url = gridwatch_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL for the tests");
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .arg("migrate")
        .env("GRIDWATCH_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hub = start("serve", &[("GRIDWATCH_DATABASE_URL", url)]).await;
    let ready: Value = reqwest::get(format!("{}/readyz", hub.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "postgres");
}

#[tokio::test]
async fn demo_comes_up_with_users_and_buttons() {
    let hub = start("demo", &[]).await;
    let printed = hub.printed_until("stop: Ctrl-C").await;
    // What it wrote is its own: the database, its key, the recordings' directory.
    for name in ["gridwatch.db", "secret.key", "recordings"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(hub.dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "{name} is readable by others: {:o}",
            mode & 0o777
        );
    }
    assert!(
        printed.contains("/readyz") && printed.contains("duty-demo"),
        "{printed}"
    );
    let client = reqwest::Client::new();
    for (user, password) in [
        ("admin", "admin-demo"),
        ("duty", "duty-demo"),
        ("officer", "officer-demo"),
        ("resident", "resident-demo"),
    ] {
        let r = client
            .post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "demo login {user}");
    }
    let token = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("token "))
        .expect("the demo prints device tokens");
    let me = support::json(
        client
            .get(format!("{}/api/v1/me", hub.base))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(me["role"], "device");
    // The demo's simulated cameras are registered and answer RTSP (their URLs are shown to
    // admins only).
    let login = support::json(
        client
            .post(format!("{}/api/v1/auth/login", hub.base))
            .json(&json!({"username": "admin", "password": "admin-demo"})),
    )
    .await;
    let cameras = support::json(
        client
            .get(format!("{}/api/v1/cameras", hub.base))
            .bearer_auth(login["token"].as_str().unwrap()),
    )
    .await;
    let cameras = cameras.as_array().unwrap();
    assert_eq!(cameras.len(), 4, "{cameras:?}");
    let url = cameras[0]["rtsp_url"].as_str().unwrap();
    let hostport = url.trim_start_matches("rtsp://").split('/').next().unwrap();
    std::net::TcpStream::connect(hostport).expect("the camera simulator listens");
    let page = client
        .get(format!("{}/", hub.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("社区综治中心"));
}
