//! Cameras (摄像头 / 监控点位), many of them 360° panoramic (360度全景摄像头).
//!
//! RTSP credentials are kept apart from the URL: a URL with `user:pass@` in it is refused, and
//! the credentials, once stored, are never shown again by the API.

use crate::patch::double_option;
use crate::recording::RecordMode;
use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A camera as configured. Live status (online, codec, resolution) is the ingest's to report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    pub rtsp_url: String,
    pub sub_rtsp_url: Option<String>,
    pub grid_id: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Degrees clockwise from north the camera looks at (meaningless when panoramic).
    pub heading: Option<f64>,
    pub panoramic: bool,
    pub enabled: bool,
    /// Whether RTSP credentials are stored (they are never returned).
    pub has_credentials: bool,
    /// How RTP reaches the hub: `tcp` (interleaved in the RTSP connection, the default) or
    /// `udp`.
    #[serde(default)]
    pub transport: CameraTransport,
    /// Workarounds for this camera's RTSP server, by name from [`CAMERA_QUIRKS`]; empty for a
    /// camera that follows the standard.
    #[serde(default)]
    pub quirks: Vec<String>,
    /// The `User-Agent` to send instead of the hub's own, for cameras that only talk to the
    /// clients they know; `None` for the default.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Whether its main stream is recorded: always, as a pre-event buffer kept only around
    /// incidents, or not at all.
    #[serde(default)]
    pub record: RecordMode,
    /// Days its recordings are kept; `None` for the hub's `[recording] retention_days`.
    #[serde(default)]
    pub retention_days: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a camera's RTP reaches the hub.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CameraTransport {
    /// Interleaved in the RTSP TCP connection: passes NAT and firewalls, loses nothing.
    #[default]
    Tcp,
    /// Separate UDP ports, for cameras on the same LAN that do TCP badly.
    Udp,
}

impl CameraTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraTransport::Tcp => "tcp",
            CameraTransport::Udp => "udp",
        }
    }

    /// `tcp` or `udp`; anything else is an error naming `field`.
    pub fn parse(field: &str, s: &str) -> Result<CameraTransport, ValidationError> {
        match s {
            "tcp" => Ok(CameraTransport::Tcp),
            "udp" => Ok(CameraTransport::Udp),
            other => Err(ValidationError::new(
                field,
                format!("unknown transport {other:?}: expected tcp or udp"),
            )),
        }
    }
}

impl std::fmt::Display for CameraTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The camera quirks the ingest knows, each a workaround retina has for cameras met in the
/// wild, and the cameras it is known for. Names and meaning follow the ingest's
/// `CameraQuirks` (a hub test checks that both lists agree).
pub const CAMERA_QUIRKS: &[(&str, &str)] = &[
    (
        "ignore_rtptime",
        "ignore the rtptime of the PLAY response's RTP-Info (some Reolink firmware)",
    ),
    (
        "ignore_rtp_info_seq",
        "ignore the seq of RTP-Info altogether (Hikvision and Tapo send wrong values)",
    ),
    (
        "ignore_unassigned_channel_data",
        "ignore data on interleaved channels never set up (Reolink and other cheap cameras)",
    ),
    (
        "use_first_session_id",
        "keep the first SETUP's session ID when later ones change it",
    ),
    (
        "accept_unknown_rtcp_ssrc",
        "accept RTCP sender reports whose SSRC is not the stream's",
    ),
    (
        "always_teardown",
        "always send TEARDOWN, also over TCP (older live555-based firmware, e.g. Hikvision)",
    ),
];

/// Quirk names checked against [`CAMERA_QUIRKS`], without duplicates, in the order of that
/// list; an unknown name is an error naming `field`.
pub fn parse_quirks(field: &str, names: &[String]) -> Result<Vec<String>, ValidationError> {
    if let Some(bad) = names
        .iter()
        .find(|n| !CAMERA_QUIRKS.iter().any(|(q, _)| q == n))
    {
        let known: Vec<&str> = CAMERA_QUIRKS.iter().map(|(q, _)| *q).collect();
        return Err(ValidationError::new(
            field,
            format!(
                "unknown quirk {bad:?}: expected some of {}",
                known.join(", ")
            ),
        ));
    }
    Ok(CAMERA_QUIRKS
        .iter()
        .map(|(q, _)| *q)
        .filter(|q| names.iter().any(|n| n == q))
        .map(String::from)
        .collect())
}

/// RTSP credentials, kept out of every API answer.
#[derive(Clone, PartialEq, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCamera {
    pub name: String,
    pub rtsp_url: String,
    #[serde(default)]
    pub sub_rtsp_url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub grid_id: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub heading: Option<f64>,
    #[serde(default)]
    pub panoramic: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: Option<String>,
    /// Names from [`CAMERA_QUIRKS`]; none by default.
    #[serde(default)]
    pub quirks: Vec<String>,
    /// `User-Agent` to send instead of the hub's own.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// `continuous` (default), `incidents` or `off`.
    #[serde(default)]
    pub record: Option<String>,
    /// Days recordings are kept (1 to [`MAX_RETENTION_DAYS`]); none for the hub's default.
    #[serde(default)]
    pub retention_days: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraPatch {
    pub name: Option<String>,
    pub rtsp_url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub sub_rtsp_url: Option<Option<String>>,
    /// `null` removes the stored credentials.
    #[serde(default, deserialize_with = "double_option")]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub grid_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub lat: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub lon: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub heading: Option<Option<f64>>,
    pub panoramic: Option<bool>,
    pub enabled: Option<bool>,
    /// `tcp` or `udp`.
    pub transport: Option<String>,
    /// The whole list of quirks (names from [`CAMERA_QUIRKS`]); `[]` removes them all.
    pub quirks: Option<Vec<String>>,
    /// `null` goes back to the hub's own `User-Agent`.
    #[serde(default, deserialize_with = "double_option")]
    pub user_agent: Option<Option<String>>,
    /// `continuous`, `incidents` or `off`; applied to the running recorder at once.
    pub record: Option<String>,
    /// `null` goes back to the hub's default.
    #[serde(default, deserialize_with = "double_option")]
    pub retention_days: Option<Option<i64>>,
}

/// The longest a camera's recordings may be kept: ten years, far beyond any disk, so that a
/// typo (days given as hours, say) is caught rather than silently keeping everything.
pub const MAX_RETENTION_DAYS: i64 = 3650;

/// `continuous`, `incidents` or `off`; anything else is an error naming `field`.
pub fn parse_record_mode(field: &str, s: &str) -> Result<RecordMode, ValidationError> {
    RecordMode::parse(s).ok_or_else(|| {
        ValidationError::new(
            field,
            format!("unknown record mode {s:?}: expected continuous, incidents or off"),
        )
    })
}

/// Whole days from 1 to [`MAX_RETENTION_DAYS`].
pub fn parse_retention_days(field: &str, days: i64) -> Result<u32, ValidationError> {
    match u32::try_from(days) {
        Ok(d) if (1..=MAX_RETENTION_DAYS).contains(&days) => Ok(d),
        _ => Err(ValidationError::new(
            field,
            format!("must be 1 to {MAX_RETENTION_DAYS} days (null for the hub's default)"),
        )),
    }
}

/// A `User-Agent` header value: printable ASCII (it goes into an RTSP header line as is, so
/// no line breaks), 1 to 200 characters.
pub fn validate_user_agent(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() || value.len() > 200 {
        return Err(ValidationError::new(field, "must be 1 to 200 characters"));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ValidationError::new(
            field,
            "must be printable ASCII (it is sent as an RTSP header)",
        ));
    }
    Ok(())
}

/// An `rtsp://` or `rtsps://` URL with a host and no credentials in it.
pub fn validate_rtsp_url(field: &str, url: &str) -> Result<(), ValidationError> {
    let rest = url
        .strip_prefix("rtsp://")
        .or_else(|| url.strip_prefix("rtsps://"))
        .ok_or_else(|| ValidationError::new(field, "must start with rtsp:// or rtsps://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(ValidationError::new(
            field,
            "must not contain credentials: give them as username and password",
        ));
    }
    if authority.is_empty() || url.len() > 1000 || url.chars().any(|c| c.is_whitespace()) {
        return Err(ValidationError::new(field, "is not a valid RTSP URL"));
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| ValidationError::new(field, "is not a valid RTSP URL (host[:port])"))?;
    if let Some(port) = port {
        if !matches!(port.parse::<u32>(), Ok(1..=65535))
            || !port.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ValidationError::new(
                field,
                format!("port {port} is not a port (1 to 65535)"),
            ));
        }
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        if is_link_local(ip) {
            // 169.254.169.254 and its kind answer cloud metadata, not video: an admin's typo
            // or a stolen admin session must not make the hub fetch them.
            return Err(ValidationError::new(
                field,
                format!("{ip} is a link-local address (cloud metadata, not a camera)"),
            ));
        }
    }
    Ok(())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` when the brackets do not close or the
/// host is empty.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return (!host.is_empty()).then_some((host, port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    (!host.is_empty() && !host.contains(':')).then_some((host, port))
}

fn is_link_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn validate_fields(
    name: &str,
    rtsp_url: &str,
    sub_rtsp_url: Option<&str>,
    lat: Option<f64>,
    lon: Option<f64>,
    heading: Option<f64>,
    creds: (Option<&str>, Option<&str>),
) -> Result<(), ValidationError> {
    validate::name("name", name, 100)?;
    validate_rtsp_url("rtsp_url", rtsp_url)?;
    if let Some(s) = sub_rtsp_url {
        validate_rtsp_url("sub_rtsp_url", s)?;
    }
    validate::lat_lon(lat, lon)?;
    if let Some(h) = heading {
        if !(0.0..360.0).contains(&h) {
            return Err(ValidationError::new("heading", "must be in 0..360 degrees"));
        }
    }
    match creds {
        (Some(_), None) => Err(ValidationError::new(
            "password",
            "is required with username",
        )),
        (None, Some(_)) => Err(ValidationError::new(
            "username",
            "is required with password",
        )),
        (u, p) => {
            validate::text("username", u, 200)?;
            validate::text("password", p, 200)
        }
    }
}

impl NewCamera {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_fields(
            &self.name,
            &self.rtsp_url,
            self.sub_rtsp_url.as_deref(),
            self.lat,
            self.lon,
            self.heading,
            (self.username.as_deref(), self.password.as_deref()),
        )?;
        self.transport()?;
        self.quirks()?;
        if let Some(ua) = &self.user_agent {
            validate_user_agent("user_agent", ua)?;
        }
        self.record()?;
        self.retention_days()?;
        Ok(())
    }

    /// The record mode asked for (`continuous` when none was).
    pub fn record(&self) -> Result<RecordMode, ValidationError> {
        self.record
            .as_deref()
            .map_or(Ok(RecordMode::Continuous), |r| {
                parse_record_mode("record", r)
            })
    }

    /// The retention asked for (`None`: the hub's default).
    pub fn retention_days(&self) -> Result<Option<u32>, ValidationError> {
        self.retention_days
            .map(|d| parse_retention_days("retention_days", d))
            .transpose()
    }

    /// The transport asked for (`tcp` when none was).
    pub fn transport(&self) -> Result<CameraTransport, ValidationError> {
        self.transport
            .as_deref()
            .map_or(Ok(CameraTransport::Tcp), |t| {
                CameraTransport::parse("transport", t)
            })
    }

    /// The quirks asked for, checked and in canonical order.
    pub fn quirks(&self) -> Result<Vec<String>, ValidationError> {
        parse_quirks("quirks", &self.quirks)
    }

    pub fn credentials(&self) -> Option<Credentials> {
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        }
    }
}

/// What a patch does to the stored credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialsChange {
    Keep,
    Clear,
    Set(Credentials),
}

impl Camera {
    /// The camera after a patch, and what becomes of its credentials.
    pub fn patched(&self, p: CameraPatch) -> Result<(Camera, CredentialsChange), ValidationError> {
        let mut out = self.clone();
        if let Some(v) = p.name {
            out.name = v;
        }
        if let Some(v) = p.rtsp_url {
            out.rtsp_url = v;
        }
        if let Some(v) = p.sub_rtsp_url {
            out.sub_rtsp_url = v;
        }
        if let Some(v) = p.grid_id {
            out.grid_id = v;
        }
        if let Some(v) = p.lat {
            out.lat = v;
        }
        if let Some(v) = p.lon {
            out.lon = v;
        }
        if let Some(v) = p.heading {
            out.heading = v;
        }
        if let Some(v) = p.panoramic {
            out.panoramic = v;
        }
        if let Some(v) = p.enabled {
            out.enabled = v;
        }
        if let Some(v) = p.transport {
            out.transport = CameraTransport::parse("transport", &v)?;
        }
        if let Some(v) = p.quirks {
            out.quirks = parse_quirks("quirks", &v)?;
        }
        if let Some(v) = p.user_agent {
            if let Some(ua) = &v {
                validate_user_agent("user_agent", ua)?;
            }
            out.user_agent = v;
        }
        if let Some(v) = p.record {
            out.record = parse_record_mode("record", &v)?;
        }
        if let Some(v) = p.retention_days {
            out.retention_days = v
                .map(|d| parse_retention_days("retention_days", d))
                .transpose()?;
        }
        let change = match (p.username, p.password) {
            (None, None) => CredentialsChange::Keep,
            (Some(None), Some(None)) | (Some(None), None) | (None, Some(None)) => {
                CredentialsChange::Clear
            }
            (Some(Some(u)), Some(Some(pw))) => CredentialsChange::Set(Credentials {
                username: u,
                password: pw,
            }),
            (Some(Some(_)), _) => {
                return Err(ValidationError::new(
                    "password",
                    "is required with username",
                ))
            }
            (_, Some(Some(_))) => {
                return Err(ValidationError::new(
                    "username",
                    "is required with password",
                ))
            }
        };
        let creds = match &change {
            CredentialsChange::Set(c) => (Some(c.username.as_str()), Some(c.password.as_str())),
            _ => (None, None),
        };
        validate_fields(
            &out.name,
            &out.rtsp_url,
            out.sub_rtsp_url.as_deref(),
            out.lat,
            out.lon,
            out.heading,
            creds,
        )?;
        out.has_credentials = match change {
            CredentialsChange::Keep => self.has_credentials,
            CredentialsChange::Clear => false,
            CredentialsChange::Set(_) => true,
        };
        Ok((out, change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_are_refused() {
        assert!(validate_rtsp_url("rtsp_url", "rtsp://10.0.0.5:554/Streaming/101").is_ok());
        let e = validate_rtsp_url("rtsp_url", "rtsp://admin:12345@10.0.0.5/").unwrap_err();
        assert!(e.message.contains("credentials"));
        assert!(validate_rtsp_url("rtsp_url", "http://x/").is_err());
        assert!(validate_rtsp_url("rtsp_url", "rtsp:///path").is_err());
        for bad in [
            "rtsp://[::1]:99999/x",
            "rtsp://10.0.0.5:0/x",
            "rtsp://10.0.0.5:55x/x",
            "rtsp://10.0.0.5:/x",
            "rtsp://[::1/x",
            "rtsp://:554/x",
        ] {
            let e = validate_rtsp_url("rtsp_url", bad).unwrap_err();
            assert_eq!(e.field, "rtsp_url", "{bad}");
        }
        for metadata in ["rtsp://169.254.169.254/latest", "rtsp://[fe80::1]:554/x"] {
            let e = validate_rtsp_url("rtsp_url", metadata).unwrap_err();
            assert!(e.message.contains("link-local"), "{metadata}: {e}");
        }
        for good in [
            "rtsp://[::1]:8554/x",
            "rtsp://[2001:db8::5]/Streaming/101",
            "rtsps://cam.example:322/live",
            "rtsp://192.168.1.64:554/h265",
        ] {
            assert!(validate_rtsp_url("rtsp_url", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials {
            username: "admin".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{c:?}").contains("hunter22"));
    }

    #[test]
    fn patch_credentials() {
        let cam = Camera {
            id: "c".into(),
            name: "东门".into(),
            rtsp_url: "rtsp://127.0.0.1/cam1".into(),
            sub_rtsp_url: None,
            grid_id: None,
            lat: None,
            lon: None,
            heading: None,
            panoramic: true,
            enabled: true,
            has_credentials: true,
            transport: CameraTransport::Tcp,
            quirks: vec![],
            user_agent: None,
            record: RecordMode::Continuous,
            retention_days: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let p: CameraPatch = serde_json::from_str(r#"{"username":null,"password":null}"#).unwrap();
        let (out, ch) = cam.patched(p).unwrap();
        assert_eq!(ch, CredentialsChange::Clear);
        assert!(!out.has_credentials);
        let p: CameraPatch = serde_json::from_str(r#"{"username":"u"}"#).unwrap();
        assert_eq!(cam.patched(p).unwrap_err().field, "password");
        let p: CameraPatch = serde_json::from_str(r#"{"enabled":false}"#).unwrap();
        let (out, ch) = cam.patched(p).unwrap();
        assert_eq!(ch, CredentialsChange::Keep);
        assert!(out.has_credentials && !out.enabled);
        assert_eq!(out.transport, CameraTransport::Tcp);
    }

    #[test]
    fn transport_and_quirks_are_checked_by_name() {
        let new: NewCamera = serde_json::from_str(
            r#"{"name":"n","rtsp_url":"rtsp://h/a","transport":"udp",
                "quirks":["always_teardown","ignore_rtptime","always_teardown"]}"#,
        )
        .unwrap();
        assert!(new.validate().is_ok());
        assert_eq!(new.transport().unwrap(), CameraTransport::Udp);
        assert_eq!(new.quirks().unwrap(), ["ignore_rtptime", "always_teardown"]);
        let bad: NewCamera =
            serde_json::from_str(r#"{"name":"n","rtsp_url":"rtsp://h/a","transport":"http"}"#)
                .unwrap();
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field, "transport");
        assert!(e.message.contains("tcp or udp"), "{e}");
        let bad: NewCamera =
            serde_json::from_str(r#"{"name":"n","rtsp_url":"rtsp://h/a","quirks":["dahua"]}"#)
                .unwrap();
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field, "quirks");
        assert!(e.message.contains("\"dahua\"") && e.message.contains("ignore_rtptime"));
        let defaults: NewCamera =
            serde_json::from_str(r#"{"name":"n","rtsp_url":"rtsp://h/a"}"#).unwrap();
        assert_eq!(defaults.transport().unwrap(), CameraTransport::Tcp);
        assert!(defaults.quirks().unwrap().is_empty());
    }

    #[test]
    fn record_mode_and_retention_are_checked_by_field() {
        let new: NewCamera = serde_json::from_str(
            r#"{"name":"n","rtsp_url":"rtsp://h/a","record":"incidents","retention_days":7}"#,
        )
        .unwrap();
        assert!(new.validate().is_ok());
        assert_eq!(new.record().unwrap(), RecordMode::Incidents);
        assert_eq!(new.retention_days().unwrap(), Some(7));
        let defaults: NewCamera =
            serde_json::from_str(r#"{"name":"n","rtsp_url":"rtsp://h/a"}"#).unwrap();
        assert_eq!(defaults.record().unwrap(), RecordMode::Continuous);
        assert_eq!(defaults.retention_days().unwrap(), None);
        for (body, field) in [
            (r#""record":"always""#, "record"),
            (r#""retention_days":0"#, "retention_days"),
            (r#""retention_days":-3"#, "retention_days"),
            (r#""retention_days":3651"#, "retention_days"),
        ] {
            let new: NewCamera =
                serde_json::from_str(&format!(r#"{{"name":"n","rtsp_url":"rtsp://h/a",{body}}}"#))
                    .unwrap();
            assert_eq!(new.validate().unwrap_err().field, field, "{body}");
        }
        let cam = Camera {
            id: "c".into(),
            name: "n".into(),
            rtsp_url: "rtsp://h/a".into(),
            sub_rtsp_url: None,
            grid_id: None,
            lat: None,
            lon: None,
            heading: None,
            panoramic: false,
            enabled: true,
            has_credentials: false,
            transport: CameraTransport::Tcp,
            quirks: vec![],
            user_agent: None,
            record: RecordMode::Continuous,
            retention_days: Some(5),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let p: CameraPatch = serde_json::from_str(r#"{"record":"off"}"#).unwrap();
        let (out, _) = cam.patched(p).unwrap();
        assert_eq!((out.record, out.retention_days), (RecordMode::Off, Some(5)));
        let p: CameraPatch = serde_json::from_str(r#"{"retention_days":null}"#).unwrap();
        assert_eq!(cam.patched(p).unwrap().0.retention_days, None);
        let p: CameraPatch = serde_json::from_str(r#"{"record":"sometimes"}"#).unwrap();
        assert_eq!(cam.patched(p).unwrap_err().field, "record");
    }

    #[test]
    fn a_user_agent_is_one_printable_header_value() {
        assert!(validate_user_agent("user_agent", "Mozilla/5.0 (VLC 3.0)").is_ok());
        for bad in ["", "a\r\nCSeq: 1", "摄像头", &"x".repeat(201)] {
            let e = validate_user_agent("user_agent", bad).unwrap_err();
            assert_eq!(e.field, "user_agent", "{bad:?}");
        }
        let new: NewCamera =
            serde_json::from_str(r#"{"name":"n","rtsp_url":"rtsp://h/a","user_agent":"a\nb"}"#)
                .unwrap();
        assert_eq!(new.validate().unwrap_err().field, "user_agent");
    }
}
