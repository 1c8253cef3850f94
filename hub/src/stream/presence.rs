//! Whether posts have a console online: `post.online` / `post.offline` (what a dispatch to a
//! post without one means is [`super::delivery`]'s).
//!
//! The count lives in the database (`gridwatch_store::Console`), not in this process, so that
//! with several hub nodes a post is online while any node holds one of its consoles. Each node
//! refreshes its rows; a node that stops (crash, power) is noticed by the others after
//! [`STALE_AFTER_PINGS`] ping intervals and its consoles are removed.

use super::Stream;
use gridwatch_store::Console;
use std::sync::Arc;
use std::time::Duration;

/// Ping intervals without a refresh after which a node's consoles are taken for gone.
pub const STALE_AFTER_PINGS: u32 = 4;

/// A responder's console, online while this lives.
pub struct ConsoleGuard {
    stream: Arc<Stream>,
    console: Console,
}

/// Registers a console of `post_id`; records `post.online` if it is the post's first.
pub async fn connect(stream: &Arc<Stream>, user_id: &str, post_id: &str) -> Option<ConsoleGuard> {
    let console = Console {
        id: gridwatch_core::id::new_id(),
        node: stream.node.clone(),
        post_id: post_id.to_owned(),
        user_id: user_id.to_owned(),
    };
    match stream
        .store()
        .console_connected(&console, stream.now())
        .await
    {
        Ok(events) => {
            stream.publish_events(events).await;
            Some(ConsoleGuard {
                stream: stream.clone(),
                console,
            })
        }
        Err(e) => {
            // The console still gets its stream; it only does not count as presence.
            tracing::warn!(error = %e, post_id, "cannot record a console as online");
            None
        }
    }
}

impl Drop for ConsoleGuard {
    fn drop(&mut self) {
        let stream = self.stream.clone();
        let console = self.console.clone();
        stream.lifecycle().clone().spawn(async move {
            match stream
                .store()
                .console_disconnected(&console, stream.now())
                .await
            {
                Ok(events) => stream.publish_events(events).await,
                Err(e) => tracing::warn!(
                    error = %e, post_id = console.post_id,
                    "cannot record a console as gone; the reaper will"
                ),
            }
        });
    }
}

/// Refreshes this node's consoles and removes those of nodes that stopped refreshing theirs.
pub async fn upkeep(stream: Arc<Stream>) {
    let every = Duration::from_secs(stream.config.ping_seconds.max(1));
    let stale = chrono::Duration::from_std(every * STALE_AFTER_PINGS).unwrap_or_default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = stream.now();
        if let Err(e) = stream.store().console_heartbeat(&stream.node, now).await {
            tracing::warn!(error = %e, "cannot refresh this node's consoles");
            continue;
        }
        match stream
            .store()
            .reap_consoles(&stream.node, now - stale, now)
            .await
        {
            Ok(events) => stream.publish_events(events).await,
            Err(e) => tracing::warn!(error = %e, "cannot remove stale consoles"),
        }
    }
}
