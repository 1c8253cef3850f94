//! Incidents over HTTP: raise by hand, list, read with the timeline, and act on them.
//!
//! Who sees what (`GET`): duty officers and admins every incident; a responder the incidents
//! dispatched to its post and those of the grids whose chain names its post; a resident their
//! own. An incident the caller may not see answers **404**, as if it did not exist, so that ids
//! cannot be probed. Acting on one the caller sees but may not touch (a responder on an
//! incident dispatched to another post) answers **403**. An action that does not fit the state
//! answers 409 `illegal_transition` with the current `state`.
//!
//! A resident is shown their incidents as the real-time stream shows them: state and times,
//! and in the timeline only the kinds of progress meant for them, without data — nothing of
//! posts, officers or where they stood, their notes, cameras or the response check.

use super::auth::PeerAddr;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::json::{Json, OptionalJson, Path, Query};
use super::sos::{idempotency_key, raised_response};
use super::times::{within_range, OUT_OF_RANGE};
use crate::incidents::{contacts, intake};
use crate::state::AppState;
use crate::stream::message;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use gridwatch_core::access::{Form, RESIDENT_EVENTS};
use gridwatch_core::event::{Actor, Event};
use gridwatch_core::incident::{
    dismissible, resident_may_cancel, Action, IllegalTransition, Incident, IncidentKind,
    IncidentState, NewIncident, Source,
};
use gridwatch_core::{validate, Role};
use gridwatch_store::{IncidentFilter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// An incident as the caller is shown it (see `Visibility::form`).
pub fn shown(caller: &Caller, i: &Incident) -> Value {
    message::incident(i, caller.visibility().form())
}

/// `POST /api/v1/incidents`: 201 `{"incident"}` (200 for a replayed `Idempotency-Key`).
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    headers: HeaderMap,
    Json(new): Json<NewIncident>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let officer = caller
        .user()
        .ok_or_else(|| ApiError::forbidden("only a duty officer raises incidents by hand"))?;
    let origin = Actor::http_origin(peer.0.map(|a| a.ip()));
    let raised = intake::raise_manual(&s.incidents, officer, new, key, &origin).await?;
    Ok(raised_response(&caller, raised))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open`, `closed` (resolved or cancelled), `all` (the default) or one state's name.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub grid_id: Option<String>,
    /// One kind (`sos`, `camera_offline`, `motion`, `manual`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Raised at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Raised before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Naming this camera (raised by it, or among its nearest cameras): the marks on a
    /// camera's timeline.
    #[serde(default)]
    pub camera_id: Option<String>,
    /// Dispatched (last) to this post: what a post's console lists as its own.
    #[serde(default)]
    pub post_id: Option<String>,
    /// Resolved or cancelled at or after this time (RFC 3339); the latest closed first.
    #[serde(default)]
    pub closed_since: Option<String>,
    /// 1 to 1000; 100 by default.
    #[serde(default)]
    pub limit: Option<u32>,
}

pub const MAX_LIMIT: u32 = 1000;

/// An RFC 3339 time, or 400 naming the parameter.
pub fn parse_time(field: &str, s: &str) -> ApiResult<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
        validate::ValidationError::new(field, "must be an RFC 3339 time, e.g. 2026-03-01T08:00:00Z")
    })?;
    within_range(t.with_timezone(&Utc))
        .ok_or_else(|| validate::ValidationError::new(field, OUT_OF_RANGE).into())
}

/// `GET /api/v1/incidents`: newest first, what the caller may see, as it is shown to them.
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Vec<Value>>> {
    let f = filter(&caller, q)?;
    let incidents = s.store.list_incidents(&f).await?;
    Ok(axum::Json(
        incidents.iter().map(|i| shown(&caller, i)).collect(),
    ))
}

/// The store's filter for a list query, or 400 naming the parameter at fault.
fn filter(caller: &Caller, q: ListQuery) -> ApiResult<IncidentFilter> {
    let mut f = IncidentFilter::new(caller.visibility());
    f.states = match q.state.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(IncidentState::OPEN.to_vec()),
        Some("closed") => Some(
            IncidentState::ALL
                .into_iter()
                .filter(|s| !s.is_open())
                .collect(),
        ),
        Some(name) => Some(vec![IncidentState::parse(name).ok_or_else(|| {
            validate::ValidationError::new(
                "state",
                "must be open, closed, all, or a state (raised, dispatched, acknowledged, en_route, \
                 on_scene, resolved, cancelled)",
            )
        })?]),
    };
    f.grid_id = q.grid_id;
    f.camera_id = q.camera_id;
    f.post_id = q.post_id;
    if let Some(t) = &q.closed_since {
        f.closed_since = Some(parse_time("closed_since", t)?);
    }
    if let Some(k) = &q.kind {
        f.kind = Some(IncidentKind::parse(k).ok_or_else(|| {
            validate::ValidationError::new("kind", "must be sos, camera_offline, motion or manual")
        })?);
    }
    if let Some(t) = &q.since {
        f.since = Some(parse_time("since", t)?);
    }
    if let Some(t) = &q.until {
        f.until = Some(parse_time("until", t)?);
    }
    f.limit = match q.limit {
        None => 100,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(validate::ValidationError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )
            .into())
        }
    };
    Ok(f)
}

/// `GET /api/v1/incidents/{id}`: `{"incident": {..., "timeline": [...]}}`, with `delivery`
/// (whether the latest dispatch reached a console of its post), and for staff the `caller`
/// (name, phone, address: to call back), for a resident the `help` coming (the post's name
/// and phone, the responder's name).
///
/// A resident's timeline does not say which officer did what or from which address, nor
/// carry any event's data: see [`resident_timeline`].
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let incident = s.store.visible_incident(&id, &caller.visibility()).await?;
    let events = s.store.timeline(&id).await?;
    let mut v = shown(&caller, &incident);
    let latest = gridwatch_core::delivery::latest(&events);
    match caller.visibility().form() {
        Form::Full => {
            v["delivery"] = contacts::delivery(latest.as_ref(), false);
            v["caller"] = contacts::caller(&s.store, &incident).await;
            v["timeline"] = json!(events);
            // Who was reached off the console, and how (issue 18): with phone numbers, so for
            // the duty room and admins only.
            if matches!(caller.role(), Role::Admin | Role::DutyOfficer) {
                v["notifications"] = json!(s.store.notify_attempts(&id).await?);
            }
        }
        Form::Resident => {
            v["delivery"] = contacts::delivery(latest.as_ref(), true);
            v["help"] = contacts::help(&s.store, &incident, &events).await;
            v["timeline"] = resident_timeline(&caller, &events);
        }
    }
    Ok(axum::Json(json!({ "incident": v })))
}

/// The events the stream shows a resident (the same types, `data` empty), with `actor` as
/// `you`, `system` or `staff` and no `origin`: their call's progress, not the duty room's
/// working (where the officer stood, notes, escalations between posts, the response check).
fn resident_timeline(caller: &Caller, events: &[Event]) -> Value {
    let me = caller.actor(&PeerAddr(None)).actor;
    let who = |a: &str| match a {
        a if a == me => "you",
        "system" => "system",
        _ => "staff",
    };
    events
        .iter()
        .filter(|e| RESIDENT_EVENTS.contains(&e.kind))
        .map(|e| {
            json!({
                "seq": e.seq,
                "type": e.kind,
                "at": e.at,
                "incident_id": e.incident_id,
                "actor": who(&e.actor),
                "data": {},
            })
        })
        .collect()
}

/// Applies an action as the caller: 404 if it may not see the incident, 403 if it may not
/// act on it, 409 if the state does not allow it; 200 `{"incident"}` otherwise.
async fn act(
    s: &AppState,
    caller: &Caller,
    peer: PeerAddr,
    id: &str,
    action: Action,
    extra: Option<Value>,
) -> ApiResult<axum::Json<Value>> {
    s.store.visible_incident(id, &caller.visibility()).await?;
    let role = caller.role();
    let me = caller.user().map(|u| (u.id.clone(), u.post_id.clone()));
    let action_name = action.name();
    let dismissing = action == Action::Dismiss;
    let guard = move |i: &Incident| -> Result<(), StoreError> {
        if dismissing && !dismissible(i.kind) {
            return Err(StoreError::Conflict(format!(
                "only a camera's motion alert can be dismissed as a false alarm; cancel this {} \
                 incident with a reason",
                i.kind
            )));
        }
        match role {
            Role::DutyOfficer => Ok(()),
            Role::Responder => {
                let mine = me.as_ref().and_then(|(_, p)| p.as_deref());
                if mine.is_some() && i.post_id.as_deref() == mine {
                    Ok(())
                } else {
                    Err(StoreError::NotAllowed(
                        "the incident is dispatched to another post".into(),
                    ))
                }
            }
            Role::Resident => {
                let own = me
                    .as_ref()
                    .is_some_and(|(u, _)| i.source == Source::Resident(u.clone()));
                if !own {
                    return Err(StoreError::NotAllowed(
                        "a resident may cancel only their own SOS".into(),
                    ));
                }
                if !resident_may_cancel(i.state) {
                    // Someone is there: only the duty room may call it off now.
                    return Err(IllegalTransition {
                        state: i.state,
                        action: action_name,
                    }
                    .into());
                }
                Ok(())
            }
            Role::Admin | Role::Device => Err(StoreError::NotAllowed(
                "this role does not act on incidents".into(),
            )),
        }
    };
    let applied = crate::incidents::action::act(
        &s.incidents,
        id,
        &action,
        &caller.actor(&peer),
        extra.as_ref(),
        guard,
    )
    .await?;
    Ok(axum::Json(
        json!({ "incident": shown(caller, &applied.incident) }),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    pub post_id: String,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArriveBody {
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    pub note: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: String,
}

/// An optional JSON body that must be empty or `{}`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

pub async fn dispatch(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    Json(b): Json<DispatchBody>,
) -> ApiResult<axum::Json<Value>> {
    act(
        &s,
        &caller,
        peer,
        &id,
        Action::Dispatch {
            post_id: b.post_id.trim().to_string(),
        },
        None,
    )
    .await
}

pub async fn ack(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<axum::Json<Value>> {
    act(&s, &caller, peer, &id, Action::Acknowledge, None).await
}

pub async fn en_route(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<axum::Json<Value>> {
    act(&s, &caller, peer, &id, Action::EnRoute, None).await
}

pub async fn arrive(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ArriveBody>,
) -> ApiResult<axum::Json<Value>> {
    validate::lat_lon(b.lat, b.lon)?;
    let extra = b
        .lat
        .zip(b.lon)
        .map(|(lat, lon)| json!({"lat": lat, "lon": lon}));
    act(&s, &caller, peer, &id, Action::Arrive, extra).await
}

pub async fn resolve(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    Json(b): Json<ResolveBody>,
) -> ApiResult<axum::Json<Value>> {
    act(
        &s,
        &caller,
        peer,
        &id,
        Action::Resolve { note: b.note },
        None,
    )
    .await
}

/// One click for a camera's false alarm (误报): cancelled with the standard reason and counted
/// in the false-alarm report; 409 for an incident that is not a motion alert.
pub async fn dismiss(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<axum::Json<Value>> {
    act(&s, &caller, peer, &id, Action::Dismiss, None).await
}

pub async fn cancel(
    State(s): State<AppState>,
    caller: Caller,
    peer: PeerAddr,
    Path(id): Path<String>,
    Json(b): Json<CancelBody>,
) -> ApiResult<axum::Json<Value>> {
    act(
        &s,
        &caller,
        peer,
        &id,
        Action::Cancel { reason: b.reason },
        None,
    )
    .await
}
