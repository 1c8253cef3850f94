//! Every endpoint of the hub in one table: method, path, the roles it admits, what it does.
//!
//! The router, the role check, the OpenAPI document and the role-matrix test are all built from
//! this table, so an endpoint cannot exist without declaring who may call it.

use super::{
    admin, auth, clips, dewarp, evidence_package, exports, false_alarms, incidents, ingest_workers,
    live, motion, ops, pictures, recordings, reports, snapshot, sos, stream, whep,
};
use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use gridwatch_core::Role;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// No login needed.
pub const PUBLIC: &[Role] = &[];
pub const ADMIN: &[Role] = &[Role::Admin];
pub const STAFF: &[Role] = &[Role::Admin, Role::DutyOfficer, Role::Responder];
pub const ANYONE_LOGGED_IN: &[Role] = &Role::ALL;
pub const PEOPLE: &[Role] = &[
    Role::Admin,
    Role::DutyOfficer,
    Role::Responder,
    Role::Resident,
];
/// Who presses SOS.
pub const SOS: &[Role] = &[Role::Resident, Role::Device];
pub const DUTY: &[Role] = &[Role::DutyOfficer];
/// Who acts on an incident's response (the responder only for its own post's incidents).
pub const RESPONSE: &[Role] = &[Role::DutyOfficer, Role::Responder];
/// Who may cancel (the resident only their own SOS, before anyone is on scene).
pub const CANCEL: &[Role] = &[Role::DutyOfficer, Role::Resident];
pub const OVERSIGHT: &[Role] = &[Role::Admin, Role::DutyOfficer];
/// Who may watch the cameras (live and snapshots): never residents or devices.
pub const VIDEO: &[Role] = &[Role::Admin, Role::DutyOfficer, Role::Responder];

pub struct Endpoint {
    pub method: Method,
    /// In axum's syntax: `/api/v1/grids/{id}`.
    pub path: &'static str,
    /// Who may call it; empty for public endpoints.
    pub roles: &'static [Role],
    pub summary: &'static str,
    /// The JSON body it takes, for the OpenAPI document.
    pub body: Option<fn(&mut SchemaGenerator) -> Schema>,
    /// The success status.
    pub ok: u16,
    pub route: MethodRouter<AppState>,
}

fn ep<H, T>(
    method: Method,
    path: &'static str,
    roles: &'static [Role],
    summary: &'static str,
    h: H,
) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("standard method");
    let ok = match method {
        Method::POST => 201,
        Method::DELETE => 204,
        _ => 200,
    };
    Endpoint {
        method,
        path,
        roles,
        summary,
        body: None,
        ok,
        route: on(filter, h),
    }
}

impl Endpoint {
    /// A WebSocket: it answers 101 to an upgrade, and 426 with a JSON error to a plain request.
    fn websocket(mut self) -> Self {
        self.ok = 101;
        self
    }

    /// Whether it is a WebSocket (see [`Self::websocket`]).
    pub fn is_websocket(&self) -> bool {
        self.ok == 101
    }

    fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(|g| g.subschema_for::<T>());
        self
    }

    fn ok(mut self, status: u16) -> Self {
        self.ok = status;
        self
    }
}

/// Admin CRUD over one kind of record: list, create, get, patch, delete.
macro_rules! crud {
    ($v:ident, $base:literal, $item:literal, $m:ident, $new:ty, $patch:ty, $what:literal, $read:expr) => {
        $v.push(ep(
            Method::GET,
            $base,
            $read,
            concat!("List ", $what),
            admin::$m::list,
        ));
        $v.push(
            ep(
                Method::POST,
                $base,
                ADMIN,
                concat!("Create a ", $what),
                admin::$m::create,
            )
            .body::<$new>(),
        );
        $v.push(ep(
            Method::GET,
            $item,
            $read,
            concat!("Get one ", $what),
            admin::$m::get,
        ));
        $v.push(
            ep(
                Method::PATCH,
                $item,
                ADMIN,
                concat!("Change a ", $what),
                admin::$m::patch,
            )
            .body::<$patch>(),
        );
        $v.push(ep(
            Method::DELETE,
            $item,
            ADMIN,
            concat!("Delete a ", $what),
            admin::$m::delete,
        ));
    };
}

pub fn all() -> Vec<Endpoint> {
    use gridwatch_core::{camera, device, grid, post, user};
    let mut v = vec![
        ep(
            Method::GET,
            "/healthz",
            PUBLIC,
            "The process is up",
            ops::healthz,
        ),
        ep(
            Method::GET,
            "/readyz",
            PUBLIC,
            "The database answers and is migrated",
            ops::readyz,
        ),
        ep(
            Method::GET,
            "/metrics",
            PUBLIC,
            "Prometheus metrics",
            ops::metrics,
        ),
        ep(
            Method::GET,
            "/api/openapi.json",
            PUBLIC,
            "This API, described",
            ops::openapi,
        ),
        ep(
            Method::POST,
            "/api/v1/auth/login",
            PUBLIC,
            "Log in with username and password",
            auth::login,
        )
        .body::<auth::Login>()
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/auth/logout",
            PEOPLE,
            "Revoke the session in use",
            auth::logout,
        )
        .ok(204),
        ep(
            Method::GET,
            "/api/v1/me",
            ANYONE_LOGGED_IN,
            "Who the caller is",
            auth::me,
        ),
    ];
    crud!(
        v,
        "/api/v1/posts",
        "/api/v1/posts/{id}",
        posts,
        post::NewPost,
        post::PostPatch,
        "post",
        STAFF
    );
    crud!(
        v,
        "/api/v1/grids",
        "/api/v1/grids/{id}",
        grids,
        grid::NewGrid,
        grid::GridPatch,
        "grid",
        STAFF
    );
    crud!(
        v,
        "/api/v1/users",
        "/api/v1/users/{id}",
        users,
        user::NewUser,
        user::UserPatch,
        "user",
        ADMIN
    );
    crud!(
        v,
        "/api/v1/devices",
        "/api/v1/devices/{id}",
        devices,
        device::NewDevice,
        device::DevicePatch,
        "device",
        ADMIN
    );
    crud!(
        v,
        "/api/v1/cameras",
        "/api/v1/cameras/{id}",
        cameras,
        camera::NewCamera,
        camera::CameraPatch,
        "camera",
        STAFF
    );
    v.push(ep(
        Method::POST,
        "/api/v1/devices/{id}/token",
        ADMIN,
        "Issue a new token for a device; the old one stops working",
        admin::devices::rotate_token,
    ));
    v.extend([
        ep(
            Method::POST,
            "/api/v1/sos",
            SOS,
            "Press SOS: 201 new incident, 200 repeat press or replayed Idempotency-Key",
            sos::sos,
        )
        .body::<gridwatch_core::incident::SosPress>(),
        ep(
            Method::POST,
            "/api/v1/incidents",
            DUTY,
            "Raise an incident by hand",
            incidents::create,
        )
        .body::<gridwatch_core::incident::NewIncident>(),
        ep(
            Method::GET,
            "/api/v1/incidents",
            PEOPLE,
            "List the incidents the caller may see, newest first",
            incidents::list,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}",
            PEOPLE,
            "One incident with its timeline",
            incidents::get,
        ),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/dispatch",
            DUTY,
            "Dispatch or redirect to a post",
            incidents::dispatch,
        )
        .body::<incidents::DispatchBody>()
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/ack",
            RESPONSE,
            "The post acknowledges",
            incidents::ack,
        )
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/en-route",
            RESPONSE,
            "A responder is on the way",
            incidents::en_route,
        )
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/arrive",
            RESPONSE,
            "A responder is on scene",
            incidents::arrive,
        )
        .body::<incidents::ArriveBody>()
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/resolve",
            RESPONSE,
            "Close after the response, with a note",
            incidents::resolve,
        )
        .body::<incidents::ResolveBody>()
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/cancel",
            CANCEL,
            "Close without a response (false alarm)",
            incidents::cancel,
        )
        .body::<incidents::CancelBody>()
        .ok(200),
        ep(
            Method::POST,
            "/api/v1/incidents/{id}/dismiss",
            DUTY,
            "Dismiss a camera's motion alert as a false alarm (误报): cancelled with the standard reason, counted per camera in the false-alarm report; 409 for other kinds",
            incidents::dismiss,
        )
        .ok(200),
        ep(
            Method::GET,
            "/api/v1/stream",
            PEOPLE,
            "The real-time stream (WebSocket): hello, replay after ?since=, then live events",
            stream::stream,
        )
        .websocket(),
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/live",
            VIDEO,
            "Live video (WebSocket): an init text frame, then fMP4 segments from the latest keyframe; ?quality=main|sub; ?from=<RFC 3339> plays the recordings back (admins and duty officers; speed, pause, resume; gap and end text frames)",
            live::live,
        )
        .websocket(),
        ep(
            Method::POST,
            "/api/v1/cameras/{id}/whep",
            VIDEO,
            "Live video over WebRTC (WHEP): the body is an SDP offer (application/sdp); 201 with the SDP answer (host candidates of [webrtc]) and the session's Location; H.264 cameras only",
            whep::offer,
        ),
        ep(
            Method::DELETE,
            "/api/v1/cameras/{id}/whep/{session}",
            VIDEO,
            "Ends a WebRTC session (its owner, or an admin or duty officer)",
            whep::close,
        ),
        ep(
            Method::GET,
            "/api/v1/ingest/workers",
            ADMIN,
            "Ingest workers: address, capacity, cameras held, load, last seen, live, stopped or gone; and the cameras no worker holds",
            ingest_workers::list,
        ),
        ep(
            Method::DELETE,
            "/api/v1/ingest/workers/{id}",
            ADMIN,
            "Forget an ingest worker that does not run (stopped, or gone for good); 409 worker_live, 409 worker_pinned, 409 worker_has_recordings unless ?recordings=forget",
            ingest_workers::forget,
        ),
        ep(
            Method::PUT,
            "/api/v1/cameras/{id}/worker",
            ADMIN,
            "Pin the camera to one ingest worker ({\"worker_id\": \"…\"}; null: any worker); 400 unknown_worker",
            ingest_workers::pin,
        )
        .body::<super::ingest_workers::Pin>(),
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/snapshot.jpg",
            VIDEO,
            "A current JPEG of the camera (503 until it has sent a picture); ?quality=main|sub",
            snapshot::snapshot,
        ),
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/dewarp",
            VIDEO,
            "The 360° camera's fisheye calibration (the default circle with calibrated: false until set)",
            dewarp::get,
        ),
        ep(
            Method::PUT,
            "/api/v1/cameras/{id}/dewarp",
            ADMIN,
            "Set the fisheye calibration: mount, image circle (fractions of the frame), orientation; 400 names a bad field",
            dewarp::put,
        )
        .body::<gridwatch_core::dewarp::DewarpCalibration>(),
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/recordings",
            OVERSIGHT,
            "What the camera recorded: spans and gaps in ?from=…&to=… (RFC 3339; default the last 24 h)",
            recordings::list,
        ),
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/recordings.mp4",
            OVERSIGHT,
            "One MP4 of the camera's recordings in ?from=…&to=… (at most an hour; HTTP ranges supported; 404 no_recording; where nothing was recorded the picture holds and X-Gridwatch-Not-Recorded lists the from/to intervals); each download is recorded (camera.recording_exported, see /api/v1/exports)",
            recordings::mp4,
        ),
        ep(
            Method::GET,
            "/api/v1/exports",
            OVERSIGHT,
            "Who downloaded recorded video (cameras' recordings.mp4 and incidents' evidence clips), newest first, in ?from=…&to=… (default the last 30 days, at most 366), optionally of one ?camera_id=, at most ?limit= (default 200, at most 1000; `more` says there are older ones)",
            exports::list,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/clips",
            VIDEO,
            "The incident's evidence clips (camera, range, bytes, SHA-256) and those not sealed yet; responders for their own incidents",
            clips::list,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/clips/{clip_id}",
            VIDEO,
            "Download an evidence clip (MP4, HTTP ranges supported); recorded on the incident's timeline",
            clips::download,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/evidence.zip",
            VIDEO,
            "Every sealed clip of the incident with its manifest, SHA256SUMS and how to check them, as one ZIP archive to hand over; each clip recorded on the timeline; 404 no_clips, 409 clip_altered / manifest_altered",
            evidence_package::download,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/clips/{clip_id}/manifest",
            VIDEO,
            "An evidence clip's manifest (JSON, the file as sealed), to hand over with the clip; its SHA-256 in X-Gridwatch-Manifest-Sha256 and the list's manifest_sha256; 409 manifest_altered if the file is not the one sealed",
            clips::manifest,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/snapshots/{snapshot_id}",
            VIDEO,
            "A picture attached to the incident (JPEG: the first keyframe after a camera's motion alert, see incident.snapshot_taken)",
            pictures::get,
        ),
        ep(
            Method::GET,
            "/api/v1/reports/response",
            OVERSIGHT,
            "The response report (JSON, or CSV with Accept: text/csv)",
            reports::response,
        ),
        ep(
            Method::GET,
            "/api/v1/reports/false-alarms",
            OVERSIGHT,
            "Per camera, motion alerts and how many were dismissed as false alarms (JSON, or CSV with Accept: text/csv); ?from=&to=&tz= as the response report",
            false_alarms::report,
        ),
    ]);
    v.extend(notify_endpoints());
    v.extend(motion_endpoints());
    v
}

/// Motion and intrusion alerts (issue 19): each camera's zones, schedule and thresholds.
fn motion_endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/api/v1/cameras/{id}/motion",
            OVERSIGHT,
            "The camera's motion alert settings (zones, schedule, minimum area and duration, cooldown)",
            motion::get,
        ),
        ep(
            Method::PUT,
            "/api/v1/cameras/{id}/motion",
            ADMIN,
            "Replace the camera's motion alert settings: 400 naming the field for a bad zone or schedule",
            motion::put,
        )
        .body::<gridwatch_core::motion::MotionSettings>(),
    ]
}

/// Notifications (issue 18): posts' group-bot addresses, an incident's notification attempts,
/// and the check of a gateway's templates.
fn notify_endpoints() -> Vec<Endpoint> {
    use crate::http::notify_contacts as c;
    vec![
        ep(
            Method::GET,
            "/api/v1/posts/{id}/contacts",
            OVERSIGHT,
            "The post's group-bot addresses, by notification channel",
            c::list,
        ),
        ep(
            Method::PUT,
            "/api/v1/posts/{id}/contacts/{channel}",
            ADMIN,
            "Set the post's address for a notification channel (validated for that channel)",
            c::put,
        )
        .body::<c::ContactBody>(),
        ep(
            Method::DELETE,
            "/api/v1/posts/{id}/contacts/{channel}",
            ADMIN,
            "Remove the post's address for a notification channel",
            c::delete,
        ),
        ep(
            Method::GET,
            "/api/v1/incidents/{id}/notifications",
            OVERSIGHT,
            "Every notification attempt for the incident and its outcome (who was reached, how)",
            c::attempts,
        ),
        ep(
            Method::GET,
            "/api/v1/notify/rules",
            OVERSIGHT,
            "Every notification rule in force: the configuration file's, then those saved here",
            crate::http::notify_rules::list,
        ),
        ep(
            Method::PUT,
            "/api/v1/notify/rules/{name}",
            ADMIN,
            "Save a notification rule (checked against the configured channels; 409 for a rule of the configuration file)",
            crate::http::notify_rules::put,
        )
        .body::<crate::http::notify_rules::RuleBody>()
        .ok(200),
        ep(
            Method::DELETE,
            "/api/v1/notify/rules/{name}",
            ADMIN,
            "Remove a saved notification rule",
            crate::http::notify_rules::delete,
        ),
        ep(
            Method::POST,
            "/api/v1/notify/gateway-check",
            ADMIN,
            "Check an SMS or voice gateway's templates: 200, or 400 saying what is wrong",
            c::check_gateway,
        )
        .ok(200),
    ]
}
