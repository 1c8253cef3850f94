//! Hints between nodes that a camera changed, over NATS (when the stream's bus is NATS).
//!
//! A camera edited through one hub node applies at once there; every other node (another hub,
//! an ingest worker holding the camera) would see it only at its next resync
//! (`[cameras] resync_seconds`). A hint makes them re-read that one camera now. Hints are
//! news, not truth: plain NATS publishes (no JetStream), lost when a node is away, and what a
//! node applies is always the camera as the database has it — the resync still runs and
//! catches whatever a lost hint would have said.

use super::{sync, CameraHub};
use crate::stream::{BusKind, StreamConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// What a hint says.
#[derive(Debug, Serialize, Deserialize)]
struct Hint {
    /// The camera that changed.
    camera: String,
    /// The node that sent it, which has applied it already.
    from: String,
}

/// This node's end of the hints.
pub struct Hints {
    url: String,
    subject: String,
    /// This node, as its hints name it.
    node: String,
    /// Connected on first use; `None` when NATS could not be reached then (hints are optional:
    /// the resync covers for them).
    client: OnceCell<Option<async_nats::Client>>,
}

impl Hints {
    /// Hints on the stream's NATS server, when its bus is NATS; `None` on one box.
    pub fn new(stream: &StreamConfig) -> Option<Hints> {
        (stream.bus == BusKind::Nats).then(|| Hints {
            url: stream.nats_url.clone(),
            // Beside the stream's events subject, outside its JetStream stream: two
            // installations on one server keep apart, and hints are not stored.
            subject: format!("{}.hints.cameras", stream.nats_stream),
            node: gridwatch_core::id::new_id(),
            client: OnceCell::new(),
        })
    }

    async fn client(&self) -> Option<&async_nats::Client> {
        self.client
            .get_or_init(|| async {
                match async_nats::connect(&self.url).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(url = %self.url, error = %e, "camera hints off: NATS not reached; the resync applies changes");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// Tells the other nodes that `camera` changed (after it was applied here).
    pub async fn camera_changed(&self, camera: &str) {
        let Some(client) = self.client().await else {
            return;
        };
        let hint = Hint {
            camera: camera.to_string(),
            from: self.node.clone(),
        };
        let payload = serde_json::to_vec(&hint).expect("a hint serializes");
        if let Err(e) = client.publish(self.subject.clone(), payload.into()).await {
            tracing::warn!(%camera, error = %e, "camera hint not sent; the resync applies it");
        }
    }
}

/// Follows the other nodes' hints: each names a camera this node re-reads and applies now.
pub fn spawn(hub: Arc<CameraHub>) {
    if hub.hints.is_none() {
        return;
    }
    let lifecycle = hub.lifecycle().clone();
    lifecycle.spawn_service(async move {
        let hints = hub.hints.as_ref().expect("checked above");
        let Some(client) = hints.client().await else {
            return;
        };
        let mut subscription = match client.subscribe(hints.subject.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "camera hints not followed; the resync applies changes");
                return;
            }
        };
        while let Some(message) = subscription.next().await {
            let hint: Hint = match serde_json::from_slice(&message.payload) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "a camera hint that is not one; ignored");
                    continue;
                }
            };
            if hint.from == hints.node {
                continue;
            }
            tracing::debug!(camera = %hint.camera, "camera hint: applying it now");
            if let Err(e) = sync::reload_one(&hub, &hint.camera).await {
                tracing::warn!(camera = %hint.camera, error = %e, "camera hint not applied; the resync will");
            }
        }
    });
}
