//! Configuration: built-in defaults, then a TOML file, then `GRIDWATCH_…` environment
//! variables, each overriding the one before.
//!
//! Every field has a default, so an empty file (or none) runs the hub on the embedded SQLite
//! database. A field the hub does not know is an error that names it: a typo in a security
//! setting must not be silently ignored. Nested fields are reached from the environment with a
//! double underscore: `GRIDWATCH_AUTH__SESSION_HOURS=8` sets `[auth] session_hours = 8`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The whole configuration. `deploy/gridwatch.example.toml` shows every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    pub listen: String,
    /// Directory for the embedded database and other state.
    pub data_dir: PathBuf,
    /// `sqlite://FILE` or `postgres://USER@HOST/DB`. Empty: `sqlite://<data_dir>/gridwatch.db`.
    pub database_url: String,
    /// Most database connections the hub opens (SQLite: at most 4, its one writer would only
    /// be queued for by more).
    pub database_max_connections: u32,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub response: ResponseConfig,
    pub mqtt: MqttConfig,
    pub stream: crate::stream::StreamConfig,
    pub cameras: crate::cameras::CamerasConfig,
    /// Reaching people off the console: rules and channels (issue 18).
    pub notify: crate::notify::NotifyConfig,
    /// Recording the cameras (issue 13): sample-file directories and retention. Off while no
    /// directory is given.
    pub recording: crate::recording::RecordingConfig,
    /// Evidence clips sealed around incidents.
    pub evidence: crate::recording::EvidenceConfig,
    /// Who runs the cameras: this hub, or ingest workers by leases (issue 17).
    pub ingest: crate::workers::IngestSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `info,gridwatch_hub=debug`.
    pub filter: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Mark session cookies `Secure` (set when the hub is served over HTTPS).
    pub secure_cookies: bool,
    /// Seconds a request may take before it is answered 503 (WebSockets excepted).
    pub request_timeout_seconds: u64,
    /// Reverse proxies (addresses, or networks as `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed: behind one, every client would otherwise have the proxy's address, and the
    /// login throttle would slow the whole duty room for one stranger's guesses.
    pub trusted_proxies: Vec<String>,
    /// Origins (`https://wall.centre.local`) besides the hub's own whose pages may open its
    /// WebSockets and send it cookie-authenticated changes; any other site is refused 403
    /// (see `http::origin`). Empty: the hub's own pages only.
    pub allowed_origins: Vec<String>,
    /// Seconds a connection may take to send a request head (idle keep-alive included)
    /// before it is closed: a client trickling bytes cannot hold a connection for ever.
    pub header_read_timeout_seconds: u64,
    /// Most connections open at once; 0 (the default) is the file limit less room for the
    /// database, cameras and recordings. The last 64 under it serve only `/healthz`,
    /// `/readyz` and `/api/v1/sos`; beyond it a connection is answered 503 and closed.
    pub max_connections: usize,
    /// Connections one address may hold before its further ones serve only `/healthz`,
    /// `/readyz` and `/api/v1/sos` (trusted proxies are not held to it).
    pub max_connections_per_address: usize,
    /// When set, `/metrics` answers only `Authorization: Bearer <metrics_token>` (Prometheus'
    /// `authorization.credentials`); empty (the default) leaves it open, as scrapers expect on
    /// a closed network. The numbers say how busy the centre is and which cameras are down.
    pub metrics_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a login lasts, in hours.
    pub session_hours: u32,
    /// Failed logins from one address for one username before that address must wait
    /// (429 "try again in N s", 1 s then doubling). Nobody else is slowed by them.
    pub max_failed_logins: u32,
    /// Failed logins for one username from anywhere before every address that failed on it
    /// waits after each of its failures. Addresses that did not fail on it are never slowed:
    /// a stranger cannot lock a user out.
    pub max_failed_logins_per_user: u32,
    /// Failed logins from one address across usernames before it waits before each attempt.
    pub max_failed_logins_per_address: u32,
    /// The longest wait, in seconds.
    pub max_backoff_seconds: u64,
    /// Failed logins older than this are forgotten, in seconds.
    pub forget_failed_logins_seconds: u64,
    /// Seconds between re-checks of the session an open WebSocket (the stream, live video) was
    /// opened with: after a logout, or once its user is deleted or given another role or post,
    /// the socket is closed (1008) within this. At least 1.
    pub session_check_seconds: u64,
    /// No longer used: accounts are never locked (a stranger could lock a post out of its
    /// console). Still accepted so that an older file loads; the hub warns that it is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_seconds: Option<u64>,
}

impl AuthConfig {
    /// The login throttle's rules.
    pub fn throttle(&self) -> crate::throttle::ThrottlePolicy {
        let secs = |s: u64| chrono::Duration::seconds(s.min(i64::MAX as u64 / 1000) as i64);
        crate::throttle::ThrottlePolicy {
            free_per_pair: self.max_failed_logins.max(1),
            free_per_account: self.max_failed_logins_per_user.max(1),
            free_per_address: self.max_failed_logins_per_address.max(1),
            max_wait: secs(self.max_backoff_seconds.max(1)),
            forget_after: secs(self.forget_failed_logins_seconds.max(1)),
        }
    }

    /// How often an open WebSocket re-checks its session.
    pub fn session_check_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_check_seconds.max(1))
    }
}

/// The response check (15分钟到达时限): the centre's promise, in whole minutes (or seconds). A grid may
/// override each value (`response_minutes`, `ack_minutes`, `at_risk_minutes`); the values in
/// force when an incident is raised are frozen onto it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// From raised to a responder on scene; missing it is a breach (已超时), escalated to the
    /// supervisor level.
    pub window_minutes: u32,
    /// From a dispatch to the post's acknowledgement; after it the next post of the grid's
    /// chain is dispatched (and at the end of the chain the duty officers are told).
    pub ack_minutes: u32,
    /// From raised to the at-risk warning (即将超时) when nobody is on scene yet.
    pub at_risk_minutes: u32,
    /// The same three windows to the second (e.g. a 90 s acknowledgement window, or a drill
    /// that runs the whole check in a minute). Unset by default; when set, each replaces its
    /// `*_minutes` field.
    pub window_seconds: Option<u32>,
    pub ack_seconds: Option<u32>,
    pub at_risk_seconds: Option<u32>,
    /// A dispatch to a post whose consoles are all online but none of which confirms it within
    /// this many seconds is flagged as not received (a socket dead without closing); 0: only
    /// a post with no console online is.
    pub receipt_seconds: u32,
    /// Escalate a dispatch nobody received (no console online, or no receipt in time) to the
    /// next post at once, instead of waiting out the acknowledgement window for a call that
    /// nobody saw.
    pub escalate_undelivered: bool,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            window_minutes:
                gridwatch_core::response_check::ResponsePolicy::DEFAULT_RESPONSE_MINUTES,
            ack_minutes: gridwatch_core::response_check::ResponsePolicy::DEFAULT_ACK_MINUTES,
            at_risk_minutes:
                gridwatch_core::response_check::ResponsePolicy::DEFAULT_AT_RISK_MINUTES,
            window_seconds: None,
            ack_seconds: None,
            at_risk_seconds: None,
            receipt_seconds: 15,
            escalate_undelivered: true,
        }
    }
}

impl ResponseConfig {
    /// The centre's policy; an error names the `[response]` field at fault.
    pub fn policy(&self) -> Result<gridwatch_core::response_check::ResponsePolicy, ConfigError> {
        let seconds = |m: u32, s: Option<u32>| {
            chrono::Duration::seconds(s.map_or(i64::from(m) * 60, i64::from))
        };
        gridwatch_core::response_check::ResponsePolicy::new(
            seconds(self.window_minutes, self.window_seconds),
            seconds(self.ack_minutes, self.ack_seconds),
            seconds(self.at_risk_minutes, self.at_risk_seconds),
        )
        .map_err(|e| {
            // Name the field in force: `*_seconds` when set, else `*_minutes`.
            let unit = |set: Option<u32>| if set.is_some() { "seconds" } else { "minutes" };
            let field = match e.field.as_str() {
                "ack_minutes" => format!("ack_{}", unit(self.ack_seconds)),
                "at_risk_minutes" => format!("at_risk_{}", unit(self.at_risk_seconds)),
                _ => format!("window_{}", unit(self.window_seconds)),
            };
            let window = format!("window_{}", unit(self.window_seconds));
            let message = e.message.replace("response window", &window);
            ConfigError::Invalid(format!("response.{field}: {message}"))
        })
    }
}

/// Panic buttons over MQTT (`[mqtt]`): the hub subscribes on the broker to
/// `{topic_prefix}/devices/{device_id}/sos` and answers on the retained
/// `{topic_prefix}/devices/{device_id}/status`. Off unless `host` is set, so a box without a
/// broker runs without one and logs no connection errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// The broker's host name or address. Empty (the default): MQTT is off.
    pub host: String,
    pub port: u16,
    /// The hub's MQTT client id. Each hub node needs its own: the broker disconnects a client
    /// when another connects with the same id.
    pub client_id: String,
    /// The hub's login on the broker; empty for none. Give the password through
    /// `GRIDWATCH_MQTT__PASSWORD` rather than the file.
    pub username: String,
    pub password: String,
    /// The first topic level, `gridwatch` in `gridwatch/devices/{device_id}/sos`.
    pub topic_prefix: String,
    /// Keep the hub's session on the broker across reconnections and restarts, so that presses
    /// made while the hub is away are queued by the broker and delivered when it is back.
    pub persistent_session: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: String::new(),
            port: 1883,
            client_id: "gridwatch-hub".into(),
            username: String::new(),
            password: String::new(),
            topic_prefix: "gridwatch".into(),
            persistent_session: true,
        }
    }
}

impl MqttConfig {
    /// Whether the hub is to connect to a broker at all.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// Checked only when MQTT is on: an unused section may hold anything.
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("mqtt.{m}")));
        if self.port == 0 {
            return invalid("port must be 1 to 65535");
        }
        if self.client_id.trim().is_empty() {
            return invalid("client_id must not be empty");
        }
        if self.username.is_empty() && !self.password.is_empty() {
            return invalid("password is set but username is not");
        }
        if let Err(e) = crate::mqtt::topic::Topics::new(&self.topic_prefix) {
            return invalid(&format!("topic_prefix: {e}"));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("gridwatch-data"),
            database_url: String::new(),
            database_max_connections: 16,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            response: ResponseConfig::default(),
            mqtt: MqttConfig::default(),
            stream: crate::stream::StreamConfig::default(),
            cameras: crate::cameras::CamerasConfig::default(),
            notify: crate::notify::NotifyConfig::default(),
            recording: crate::recording::RecordingConfig::default(),
            evidence: crate::recording::EvidenceConfig::default(),
            ingest: crate::workers::IngestSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info,sqlx=warn".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 64 * 1024,
            secure_cookies: false,
            request_timeout_seconds: 30,
            trusted_proxies: vec![],
            allowed_origins: vec![],
            header_read_timeout_seconds: 10,
            max_connections: 0,
            max_connections_per_address: 256,
            metrics_token: String::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_hours: 12,
            max_failed_logins: 5,
            max_failed_logins_per_user: 10,
            max_failed_logins_per_address: 20,
            max_backoff_seconds: 300,
            forget_failed_logins_seconds: 900,
            session_check_seconds: 10,
            lockout_seconds: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The prefix of every environment override.
pub const ENV_PREFIX: &str = "GRIDWATCH_";

impl Config {
    /// Defaults, overridden by the file (if given) and then by the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(file, std::env::vars())
    }

    /// As [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                serde_json::to_value(table).map_err(|e| ConfigError::Invalid(e.to_string()))?
            }
            None => Value::Object(Default::default()),
        };
        let known = serde_json::to_value(Config::default()).expect("defaults serialize");
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        vars.sort();
        for (var, value) in vars {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest
                .to_ascii_lowercase()
                .split("__")
                .map(str::to_string)
                .collect();
            // Only names that are configuration fields are overrides; other GRIDWATCH_ variables
            // (the test suites', say) are left alone.
            let Some(default) = lookup(&known, &path) else {
                continue;
            };
            let parsed = typed_like(default, &value).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
            insert(&mut tree, &path, parsed);
        }
        let origin = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "environment".into());
        let config: Config = serde_json::from_value(tree).map_err(|e| ConfigError::Parse {
            path: origin,
            message: e.to_string(),
        })?;
        config.validate()?;
        if config.auth.lockout_seconds.is_some() {
            tracing::warn!(
                "[auth] lockout_seconds is ignored: accounts are no longer locked; failed logins \
                 slow only their own address (see max_backoff_seconds)"
            );
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            ConfigError::Invalid(format!("listen: {:?} is not HOST:PORT", self.listen))
        })?;
        if self.auth.session_hours == 0 {
            return Err(ConfigError::Invalid(
                "auth.session_hours must be at least 1".into(),
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "http.max_body_bytes must be at least 1024".into(),
            ));
        }
        for p in &self.http.trusted_proxies {
            crate::http::client_addr::Network::parse(p).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "http.trusted_proxies: {p:?} is not an address or a network (10.0.0.0/8)"
                ))
            })?;
        }
        for o in &self.http.allowed_origins {
            let ok = o.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
            });
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "http.allowed_origins: {o:?} is not an origin (https://host[:port])"
                )));
            }
        }
        self.response.policy()?;
        self.mqtt.validate()?;
        self.notify
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("notify: {e}")))?;
        self.ingest.validate(false).map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The database URL in force: the configured one, or the SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("gridwatch.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }

    /// This configuration with its secrets shown as `***` (the passwords in the database and
    /// NATS URLs, the MQTT password), as `gridwatch config` prints it: the output is meant to
    /// be read, and pasted into a ticket.
    pub fn redacted(&self) -> Config {
        let mut shown = self.clone();
        shown.database_url = redact_url(&shown.database_url);
        shown.stream.nats_url = redact_url(&shown.stream.nats_url);
        if !shown.http.metrics_token.is_empty() {
            shown.http.metrics_token = "***".into();
        }
        if !shown.ingest.secret.is_empty() {
            shown.ingest.secret = "***".into();
        }
        if !shown.mqtt.password.is_empty() {
            shown.mqtt.password = "***".into();
        }
        shown
    }
}

/// `url` with the password of its user info, and any password-like query parameter
/// (`?password=`, `sslpassword=`, `token=`, …), shown as `***`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &base[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        let secret = |k: &str| {
            let k = k.to_ascii_lowercase();
            ["password", "pass", "pwd", "secret", "token"]
                .iter()
                .any(|s| k.ends_with(s))
        };
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if secret(k) => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

fn insert(tree: &mut Value, path: &[String], value: Value) {
    let mut v = tree;
    for k in &path[..path.len() - 1] {
        if !v.is_object() {
            *v = Value::Object(Default::default());
        }
        v = v
            .as_object_mut()
            .expect("made an object")
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert(path[path.len() - 1].clone(), value);
    }
}

/// Reads an environment string as the type the field has by default.
fn typed_like(default: &Value, s: &str) -> Result<Value, String> {
    match default {
        Value::Bool(_) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("{s:?} is not true or false")),
        },
        Value::Number(_) => s
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| format!("{s:?} is not a number")),
        Value::Object(_) => Err("names a section, not a field".into()),
        // A list: comma-separated.
        Value::Array(_) => Ok(Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Value::String(v.to_string()))
                .collect(),
        )),
        // An optional field, unset by default: a number if it reads as one.
        Value::Null => Ok(s
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(s.to_string()))),
        _ => Ok(Value::String(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn trusted_proxies_from_the_environment_are_a_checked_list() {
        let c = Config::load_with_env(
            None,
            env(&[("GRIDWATCH_HTTP__TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]),
        )
        .unwrap();
        assert_eq!(c.http.trusted_proxies, ["127.0.0.1", "10.0.0.0/8"]);
        let e = Config::load_with_env(
            None,
            env(&[("GRIDWATCH_HTTP__TRUSTED_PROXIES", "the-proxy")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("http.trusted_proxies"), "{e}");
    }

    #[test]
    fn an_older_file_with_lockout_seconds_still_loads() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[auth]\nlockout_seconds = 300\nmax_failed_logins = 5\n").unwrap();
        let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.auth.lockout_seconds, Some(300));
        assert_eq!(c.auth.throttle(), Config::default().auth.throttle());
    }

    #[test]
    fn defaults_without_file() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.database_url(), "sqlite://gridwatch-data/gridwatch.db");
    }

    #[test]
    fn file_then_environment() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "listen = \"0.0.0.0:9000\"\n[auth]\nsession_hours = 8\n").unwrap();
        let c = Config::load_with_env(
            Some(f.path()),
            env(&[
                ("GRIDWATCH_LISTEN", "127.0.0.1:9001"),
                ("GRIDWATCH_AUTH__MAX_FAILED_LOGINS", "3"),
                ("GRIDWATCH_HTTP__SECURE_COOKIES", "true"),
                ("GRIDWATCH_DATABASE_URL", "postgres://u@h/db"),
                ("GRIDWATCH_TEST_SOMETHING", "ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9001");
        assert_eq!(c.auth.session_hours, 8);
        assert_eq!(c.auth.max_failed_logins, 3);
        assert!(c.http.secure_cookies);
        assert_eq!(c.database_url(), "postgres://u@h/db");
    }

    #[test]
    fn unknown_fields_are_named() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[auth]\nsesion_hours = 8\n").unwrap();
        let e = Config::load_with_env(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sesion_hours"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::load_with_env(None, env(&[("GRIDWATCH_AUTH__SESSION_HOURS", "twelve")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("GRIDWATCH_AUTH__SESSION_HOURS"), "{e}");
        let e = Config::load_with_env(None, env(&[("GRIDWATCH_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn recording_from_the_environment() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("GRIDWATCH_RECORDING__DIRS", "/srv/v1, /srv/v2"),
                ("GRIDWATCH_RECORDING__RETENTION_DAYS", "7"),
                ("GRIDWATCH_EVIDENCE__POST_SECONDS", "45"),
            ]),
        )
        .unwrap();
        let dirs: Vec<&Path> = c.recording.dirs.iter().map(|d| d.path()).collect();
        assert_eq!(dirs, [Path::new("/srv/v1"), Path::new("/srv/v2")]);
        assert_eq!(c.recording.retention_days, 7);
        assert_eq!(c.evidence.post_seconds, 45);
        assert!(!Config::default().recording.enabled());
    }

    #[test]
    fn urls_print_without_passwords() {
        assert_eq!(
            redact_url("postgres://gw:secret@db/gw"),
            "postgres://gw:***@db/gw"
        );
        assert_eq!(redact_url("nats://hub@n1:4222"), "nats://hub@n1:4222");
        assert_eq!(redact_url("sqlite://data/gw.db"), "sqlite://data/gw.db");
        assert_eq!(
            redact_url("postgres://gw@db/gw?password=secret&sslmode=require&sslpassword=k"),
            "postgres://gw@db/gw?password=***&sslmode=require&sslpassword=***"
        );
        assert_eq!(
            redact_url("postgres://gw:s@db/gw?application_name=hub"),
            "postgres://gw:***@db/gw?application_name=hub"
        );
    }

    #[test]
    fn printed_config_hides_secrets() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("GRIDWATCH_DATABASE_URL", "postgres://gw:db-secret@db/gw"),
                (
                    "GRIDWATCH_STREAM__NATS_URL",
                    "nats://hub:nats-secret@n1:4222",
                ),
                ("GRIDWATCH_MQTT__HOST", "broker"),
                ("GRIDWATCH_MQTT__USERNAME", "hub"),
                ("GRIDWATCH_MQTT__PASSWORD", "mqtt-secret"),
                ("GRIDWATCH_INGEST__SECRET", "ingest-secret-0123456789"),
            ]),
        )
        .unwrap();
        let printed = c.redacted().to_toml();
        // (`[ingest] secret` is a field's name; every value ends in -secret…)
        assert!(!printed.contains("-secret"), "{printed}");
        assert!(printed.contains("secret = \"***\""), "{printed}");
        assert!(printed.contains("postgres://gw:***@db/gw"), "{printed}");
        assert!(printed.contains("nats://hub:***@n1:4222"), "{printed}");
        assert!(printed.contains("password = \"***\""), "{printed}");
        // The configuration itself is untouched.
        assert_eq!(c.mqtt.password, "mqtt-secret");
    }

    #[test]
    fn printed_config_reads_back() {
        let c = Config::default();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(c.to_toml().as_bytes()).unwrap();
        assert_eq!(Config::load_with_env(Some(f.path()), env(&[])).unwrap(), c);
    }

    #[test]
    fn response_defaults_are_the_centres_promise() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(
            (
                c.response.window_minutes,
                c.response.ack_minutes,
                c.response.at_risk_minutes
            ),
            (15, 2, 10)
        );
        assert_eq!(
            c.response.policy().unwrap(),
            gridwatch_core::response_check::ResponsePolicy::default()
        );
    }

    #[test]
    fn response_windows_from_file_and_environment() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[response]\nwindow_minutes = 20\nat_risk_minutes = 12\n").unwrap();
        let c = Config::load_with_env(
            Some(f.path()),
            env(&[("GRIDWATCH_RESPONSE__ACK_MINUTES", "3")]),
        )
        .unwrap();
        assert_eq!(
            c.response.policy().unwrap(),
            gridwatch_core::response_check::ResponsePolicy::from_minutes(20, 3, 12).unwrap()
        );
    }

    #[test]
    fn response_windows_that_make_no_sense_are_refused() {
        let e = Config::load_with_env(None, env(&[("GRIDWATCH_RESPONSE__AT_RISK_MINUTES", "15")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("response.at_risk_minutes"), "{e}");
        assert!(e.contains("window_minutes"), "{e}");
        let e = Config::load_with_env(None, env(&[("GRIDWATCH_RESPONSE__ACK_MINUTES", "0")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("response.ack_minutes"), "{e}");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[response]\nwindow_minuts = 20\n").unwrap();
        let e = Config::load_with_env(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("window_minuts"), "{e}");
    }

    #[test]
    fn response_windows_in_seconds_replace_the_minutes() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("GRIDWATCH_RESPONSE__ACK_SECONDS", "90"),
                ("GRIDWATCH_RESPONSE__AT_RISK_SECONDS", "300"),
            ]),
        )
        .unwrap();
        let p = c.response.policy().unwrap();
        assert_eq!(p.ack_window, chrono::Duration::seconds(90));
        assert_eq!(p.at_risk_after, chrono::Duration::seconds(300));
        assert_eq!(p.response_window, chrono::Duration::minutes(15));
        // Unset, they are not printed, so the defaults read the same as before.
        let printed = Config::default().to_toml();
        assert!(!printed.contains("ack_seconds"), "{printed}");
        let e = Config::load_with_env(
            None,
            env(&[
                ("GRIDWATCH_RESPONSE__WINDOW_SECONDS", "5"),
                ("GRIDWATCH_RESPONSE__AT_RISK_SECONDS", "3"),
                ("GRIDWATCH_RESPONSE__ACK_SECONDS", "5"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("response.ack_seconds"), "{e}");
        assert!(e.contains("window_seconds"), "{e}");
    }
}
