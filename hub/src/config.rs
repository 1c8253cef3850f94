//! Configuration: built-in defaults, then a TOML file, then `GRIDWATCH_…` environment
//! variables, each overriding the one before.
//!
//! Every field has a default, so an empty file (or none) runs the hub on the embedded SQLite
//! database. A field the hub does not know is an error that names it: a typo in a security
//! setting must not be silently ignored. Nested fields are reached from the environment with a
//! double underscore: `GRIDWATCH_AUTH__SESSION_HOURS=8` sets `[auth] session_hours = 8`.

pub use crate::http::config::{AuthConfig, HttpConfig};
pub use crate::incidents::config::ResponseConfig;
pub use crate::mqtt::MqttConfig;
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
    /// Live video over WebRTC (WHEP) for the focused and incident views.
    pub webrtc: crate::webrtc::WebRtcConfig,
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
            webrtc: crate::webrtc::WebRtcConfig::default(),
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
