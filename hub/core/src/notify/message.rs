//! The words a notification carries: short (an SMS), in Chinese and English, with a link that
//! opens the console on the incident (the console asks for a login first), so a responder can
//! acknowledge from the phone in one tap.

use crate::event::{Event, EventType};

/// What is sent, whatever the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// A title for group bots and e-mail subjects.
    pub title: String,
    /// The text, ending with the link.
    pub text: String,
    /// The console's page of the incident (empty for events about no incident).
    pub link: String,
}

/// The console's page for an incident: `<console_url>/#/incidents/<id>`.
pub fn incident_link(console_url: &str, incident_id: &str) -> String {
    format!(
        "{}/#/incidents/{incident_id}",
        console_url.trim_end_matches('/')
    )
}

fn what(kind: EventType) -> (&'static str, &'static str) {
    match kind {
        EventType::IncidentRaised => ("新的求助", "new SOS"),
        EventType::IncidentUndelivered => (
            "派警未送达，无人在线",
            "dispatch not delivered, no console online",
        ),
        EventType::IncidentAtRisk => ("即将超过15分钟承诺", "15-minute promise at risk"),
        EventType::IncidentBreached => ("已超过15分钟承诺", "15-minute promise breached"),
        EventType::IncidentEscalated => ("事件已升级", "incident escalated"),
        EventType::CameraOffline => ("摄像头离线", "camera offline"),
        EventType::PostOffline => ("警务站离线", "post offline"),
        _ => ("事件更新", "incident update"),
    }
}

/// The message for an event.
pub fn compose(event: &Event, console_url: &str) -> Message {
    let (zh, en) = what(event.kind);
    let subject = match (
        &event.incident_id,
        event.data.get("camera_id").and_then(|v| v.as_str()),
    ) {
        (Some(id), _) => format!(" {id}"),
        (None, Some(cam)) => format!(" {cam}"),
        _ => String::new(),
    };
    let link = event
        .incident_id
        .as_deref()
        .map(|id| incident_link(console_url, id))
        .unwrap_or_default();
    let title = format!("【gridwatch】{zh} / {en}");
    let mut text = format!("{title}{subject}");
    if !link.is_empty() {
        text.push(' ');
        text.push_str(&link);
    }
    Message { title, text, link }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    #[test]
    fn the_message_names_the_incident_and_links_to_it() {
        let e = Event {
            seq: 9,
            kind: EventType::IncidentAtRisk,
            at: Utc::now(),
            incident_id: Some("inc-1".into()),
            actor: "system".into(),
            origin: "timer".into(),
            data: json!({}),
        };
        let m = compose(&e, "https://hub.example/");
        assert_eq!(m.link, "https://hub.example/#/incidents/inc-1");
        assert!(m.text.contains("即将超过15分钟承诺"));
        assert!(m.text.contains("promise at risk"));
        assert!(m.text.ends_with(&m.link));
        let cam = Event {
            kind: EventType::CameraOffline,
            incident_id: None,
            data: json!({"camera_id": "cam-7"}),
            ..e
        };
        let m = compose(&cam, "https://hub.example");
        assert!(m.link.is_empty());
        assert!(m.text.contains("cam-7"));
    }
}
