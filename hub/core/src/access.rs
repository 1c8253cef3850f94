//! Who may see what, decided once: which incidents a caller may see ([`Visibility`], also the
//! store's filter), the form they are shown in ([`Form`]), what a stream connection receives
//! ([`Audience`]) and which cameras a caller may watch ([`CameraScope`]) all derive from the
//! caller's [`Visibility`], so that the HTTP answers, the real-time stream and the cameras
//! cannot disagree.
//!
//! - duty officers and admins: everything;
//! - a responder: the incidents dispatched to its post and those of every grid whose chain
//!   names the post, its own post's presence, the cameras of those grids (and those its open
//!   incidents name);
//! - a resident (or a panic button): the incidents it raised, a resident in a reduced form (no
//!   cameras, no officers, no addresses), and in a timeline or on the stream only the kinds of
//!   progress meant for them ([`RESIDENT_EVENTS`]);
//! - a responder without a post: nothing.

use crate::camera::Camera;
use crate::device::Device;
use crate::event::{Event, EventType};
use crate::incident::{Incident, Source};
use crate::user::User;
use crate::Role;
use serde_json::Value;
use std::collections::HashSet;

/// Which incidents a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Duty officers and admins: every incident.
    All,
    /// A responder of this post: the incidents dispatched to it, and those of every grid whose
    /// chain names it.
    Post(String),
    /// A resident or a device: the incidents it raised (its [`Source`]).
    RaisedBy(Source),
    /// Nothing (e.g. a responder without a post).
    Nothing,
}

impl Visibility {
    pub fn of_user(u: &User) -> Visibility {
        match u.role {
            Role::Admin | Role::DutyOfficer => Visibility::All,
            Role::Responder => u
                .post_id
                .clone()
                .map_or(Visibility::Nothing, Visibility::Post),
            Role::Resident => Visibility::RaisedBy(Source::Resident(u.id.clone())),
            Role::Device => Visibility::Nothing,
        }
    }

    pub fn of_device(d: &Device) -> Visibility {
        Visibility::RaisedBy(Source::Device(d.id.clone()))
    }

    /// How incidents are shown: residents in the reduced form, so that no answer tells them
    /// more than the stream does; everyone else (a panic button too) as recorded.
    pub fn form(&self) -> Form {
        match self {
            Visibility::RaisedBy(Source::Resident(_)) => Form::Resident,
            _ => Form::Full,
        }
    }
}

/// How an incident or an event is shown to a caller that may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// As recorded.
    Full,
    /// State and times only: nothing of posts, officers or where they stood, notes, cameras or
    /// the response check.
    Resident,
}

/// The events that tell a resident how their call is going, the bad news included (the post
/// did not get it, it was passed on, it is late): a page that only hears good news tells a
/// resident help is coming when it is not.
pub const RESIDENT_EVENTS: [EventType; 12] = [
    EventType::IncidentRaised,
    EventType::IncidentRepeat,
    EventType::IncidentDispatched,
    EventType::IncidentDelivered,
    EventType::IncidentUndelivered,
    EventType::IncidentAcknowledged,
    EventType::IncidentEnRoute,
    EventType::IncidentOnScene,
    EventType::IncidentResolved,
    EventType::IncidentCancelled,
    EventType::IncidentEscalated,
    EventType::IncidentBreached,
];

/// What one stream connection may see: its caller's [`Visibility`], with a post's grids as
/// they were when it connected (the store reads them live for each query instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    visibility: Visibility,
    /// For a post: the grids whose chain names it. Empty otherwise.
    grids: HashSet<String>,
}

impl Audience {
    /// `grids`: for [`Visibility::Post`], the grids whose chain names the post; ignored for
    /// any other visibility.
    pub fn new(visibility: Visibility, grids: HashSet<String>) -> Audience {
        let grids = match visibility {
            Visibility::Post(_) => grids,
            _ => HashSet::new(),
        };
        Audience { visibility, grids }
    }

    pub fn visibility(&self) -> &Visibility {
        &self.visibility
    }

    pub fn form(&self) -> Form {
        self.visibility.form()
    }

    /// Whether the connection sees this incident at all (its hello's open incidents).
    pub fn sees_incident(&self, i: &Incident) -> bool {
        match &self.visibility {
            Visibility::All => true,
            Visibility::Post(post_id) => {
                i.post_id.as_deref() == Some(post_id.as_str())
                    || i.grid_id.as_ref().is_some_and(|g| self.grids.contains(g))
            }
            Visibility::RaisedBy(source) => &i.source == source,
            Visibility::Nothing => false,
        }
    }

    /// Whether, and in which form, the connection sees the event (about `incident`, as it is
    /// after the change, when the event is about one).
    pub fn sees_event(&self, e: &Event, incident: Option<&Incident>) -> Option<Form> {
        let data_str = |k: &str| e.data.get(k).and_then(Value::as_str);
        let about_visible = incident.is_some_and(|i| self.sees_incident(i));
        match &self.visibility {
            Visibility::All => Some(Form::Full),
            Visibility::Nothing => None,
            Visibility::RaisedBy(_) => {
                (about_visible && RESIDENT_EVENTS.contains(&e.kind)).then_some(self.form())
            }
            Visibility::Post(post_id) => {
                let ours = |k: &str| data_str(k) == Some(post_id.as_str());
                let visible = match e.kind {
                    EventType::PostOnline | EventType::PostOffline => ours("post_id"),
                    EventType::CameraOnline | EventType::CameraOffline => {
                        data_str("grid_id").is_some_and(|g| self.grids.contains(g))
                    }
                    // An incident taken from the post (redirected or escalated away) is still
                    // news to it: it should stop going.
                    _ => about_visible || ours("post_id") || ours("from_post") || ours("to_post"),
                };
                visible.then_some(Form::Full)
            }
        }
    }
}

/// Which cameras a caller may watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraScope {
    All,
    /// A responder's: the cameras of the grids whose chain names its post, and the cameras
    /// named by the open incidents it may see (an incident near a grid's edge may name a
    /// neighbour's camera, whose picture the post sent there needs).
    Some {
        grids: HashSet<String>,
        cameras: HashSet<String>,
    },
}

impl CameraScope {
    /// No camera at all.
    pub fn none() -> CameraScope {
        CameraScope::Some {
            grids: HashSet::new(),
            cameras: HashSet::new(),
        }
    }

    /// The scope of a caller of `visibility`: for a post, `grids` are the grids whose chain
    /// names it and `cameras` those its open incidents name (both ignored otherwise). Residents,
    /// devices and responders without a post watch no camera.
    pub fn new(
        visibility: &Visibility,
        grids: HashSet<String>,
        cameras: HashSet<String>,
    ) -> CameraScope {
        match visibility {
            Visibility::All => CameraScope::All,
            Visibility::Post(_) => CameraScope::Some { grids, cameras },
            Visibility::RaisedBy(_) | Visibility::Nothing => CameraScope::none(),
        }
    }

    pub fn admits(&self, camera: &Camera) -> bool {
        match self {
            CameraScope::All => true,
            CameraScope::Some { grids, cameras } => {
                cameras.contains(&camera.id)
                    || camera.grid_id.as_ref().is_some_and(|g| grids.contains(g))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn user(role: Role, post: Option<&str>) -> User {
        User {
            id: "u1".into(),
            username: "u".into(),
            display_name: "u".into(),
            role,
            post_id: post.map(str::to_string),
            grid_id: None,
            phone: None,
            address: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn event(kind: EventType, data: Value) -> Event {
        Event {
            seq: 1,
            kind,
            at: Utc::now(),
            incident_id: None,
            actor: "system".into(),
            origin: "test".into(),
            data,
        }
    }

    #[test]
    fn every_role_has_one_visibility_and_form() {
        let v = |r, p| Visibility::of_user(&user(r, p));
        assert_eq!(v(Role::Admin, None), Visibility::All);
        assert_eq!(v(Role::DutyOfficer, None), Visibility::All);
        assert_eq!(
            v(Role::Responder, Some("p1")),
            Visibility::Post("p1".into())
        );
        assert_eq!(v(Role::Responder, None), Visibility::Nothing);
        let resident = v(Role::Resident, None);
        assert_eq!(
            resident,
            Visibility::RaisedBy(Source::Resident("u1".into()))
        );
        assert_eq!(resident.form(), Form::Resident);
        assert_eq!(v(Role::Admin, None).form(), Form::Full);
        assert_eq!(
            Visibility::RaisedBy(Source::Device("d1".into())).form(),
            Form::Full
        );
    }

    #[test]
    fn a_post_sees_its_presence_and_its_grids_cameras_only() {
        let a = Audience::new(
            Visibility::Post("p1".into()),
            HashSet::from(["g1".to_string()]),
        );
        let online = |post| event(EventType::PostOnline, json!({ "post_id": post }));
        assert_eq!(a.sees_event(&online("p1"), None), Some(Form::Full));
        assert_eq!(a.sees_event(&online("p2"), None), None);
        let camera = |grid| event(EventType::CameraOffline, json!({ "grid_id": grid }));
        assert_eq!(a.sees_event(&camera("g1"), None), Some(Form::Full));
        assert_eq!(a.sees_event(&camera("g2"), None), None);
        // Taken away from the post: still news to it.
        let escalated = event(EventType::IncidentEscalated, json!({ "from_post": "p1" }));
        assert_eq!(a.sees_event(&escalated, None), Some(Form::Full));
        // Grids are a post's only.
        let everyone = Audience::new(Visibility::All, HashSet::from(["g1".to_string()]));
        assert_eq!(everyone, Audience::new(Visibility::All, HashSet::new()));
    }

    #[test]
    fn cameras_follow_the_visibility() {
        let grids = HashSet::from(["g1".to_string()]);
        let cameras = HashSet::from(["c9".to_string()]);
        assert_eq!(
            CameraScope::new(&Visibility::All, grids.clone(), cameras.clone()),
            CameraScope::All
        );
        let resident = Visibility::RaisedBy(Source::Resident("u1".into()));
        assert_eq!(
            CameraScope::new(&resident, grids.clone(), cameras.clone()),
            CameraScope::none()
        );
        let post = CameraScope::new(&Visibility::Post("p1".into()), grids, cameras);
        assert_eq!(
            post,
            CameraScope::Some {
                grids: HashSet::from(["g1".to_string()]),
                cameras: HashSet::from(["c9".to_string()]),
            }
        );
    }
}
