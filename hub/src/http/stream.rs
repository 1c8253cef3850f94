//! `GET /api/v1/stream`: the real-time stream over a WebSocket.
//!
//! One connection, from the top:
//! 1. subscribe to the delivered events *first*, then read where the log ends, so that nothing
//!    committed in between can fall between the replay and the live part;
//! 2. `hello` (the log's end, who the client is, the incidents open for it), after a `resync`
//!    when `since` cannot be replayed;
//! 3. with `since`: replay the log after it, in pages, filtered like the live events;
//! 4. live: every delivered event above what was sent, filtered; receipts and pings from the
//!    client; a WebSocket ping every `ping_seconds`; a client silent for `idle_seconds` is
//!    dropped, and one that falls `client_queue` events behind (or blocks a write for
//!    `write_timeout_seconds`) is closed with 4008 — it reconnects with `since`.
//!
//! A socket outlives the request whose session the role check accepted, so it keeps that
//! session ([`SessionWatch`], shared with live video) and is closed with 1008 once it is over:
//! logged out, expired, its user deleted or given another role or post.

use super::caller::{token_of, Caller};
use super::error::{ApiError, ApiResult};
use super::json::Query;
use super::sockets::SocketKind;
use crate::incidents::contacts;
use crate::state::AppState;
use crate::stream::{message, presence, with_incidents, Published};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use gridwatch_core::access::{Audience, Form, Visibility};
use gridwatch_core::event::Actor;
use gridwatch_core::Role;
use gridwatch_store::secret::{token_hash, TokenKind};
use gridwatch_store::IncidentFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The close code for a client that could not keep up (it resumes with `since`).
pub const SLOW_CLIENT: u16 = 4008;

/// The close code for a socket whose session is over (RFC 6455's policy violation): unlike
/// 4008 it tells the client not to reconnect with the same token.
pub const SESSION_OVER: u16 = 1008;

/// Largest message a client may send; receipts and pings are tiny.
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// The read buffer of a connection: a few receipts' worth.
const READ_BUFFER: usize = 4 * 1024;

/// How long a client closed for being slow has to take the close frame (it is behind
/// whatever was already on its way) before the connection is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Events read from the log per page of a replay.
const REPLAY_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// The last seq the client has seen.
    since: Option<i64>,
}

/// Upgrades to the stream; 426 with a JSON error for a plain GET.
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if q.since.is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "since: must be a seq, 0 or more",
        ));
    }
    let ws = ws.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            "this endpoint is a WebSocket: connect with `Upgrade: websocket`",
        )
    })?;
    let slot = s.sockets.claim(
        SocketKind::Stream,
        &caller,
        s.stream.config.max_sockets_per_user.max(1),
    )?;
    let audience = audience_of(&s, &caller).await?;
    let session = SessionWatch::of_request(&s, &headers, uri.query()).await?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        // Clients send little; tungstenite's default 128 KiB read buffer per connection would
        // be most of the memory of thousands of idle consoles.
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            s.stream.metrics.connections.inc();
            let client = Client::new(s.clone(), caller, audience, session.spawn(), socket);
            client.run(q.since).await;
            s.stream.metrics.connections.dec();
            drop(slot);
        }))
}

/// What the caller may see, read when it connects.
async fn audience_of(s: &AppState, caller: &Caller) -> ApiResult<Audience> {
    let visibility = caller.visibility();
    let grids = match &visibility {
        Visibility::Post(post) => s.store.grids_of_post(post).await?.into_iter().collect(),
        _ => Default::default(),
    };
    Ok(Audience::new(visibility, grids))
}

/// Why a connection ended.
enum End {
    /// The client left, or its socket failed.
    Gone,
    /// The client closed: its close is answered.
    Closed,
    /// It could not keep up: close with 4008.
    Slow(&'static str),
    /// Its session is over: close with 1008.
    SessionOver(&'static str),
    /// It sent a message larger than [`MAX_CLIENT_MESSAGE`]: close with 1009, so that the
    /// client is told why rather than finding its connection reset.
    TooBig,
}

struct Client {
    s: AppState,
    caller: Caller,
    audience: Audience,
    /// Resolves when the session the socket was opened with is over.
    session: SessionEnd,
    tx: SplitSink<WebSocket, Message>,
    rx: SplitStream<WebSocket>,
    /// The highest seq this client is past (sent, or filtered out).
    last: i64,
    last_heard: Instant,
}

impl Client {
    fn new(
        s: AppState,
        caller: Caller,
        audience: Audience,
        session: SessionEnd,
        socket: WebSocket,
    ) -> Client {
        let (tx, rx) = socket.split();
        Client {
            s,
            caller,
            audience,
            session,
            tx,
            rx,
            last: 0,
            last_heard: Instant::now(),
        }
    }

    async fn run(mut self, since: Option<i64>) {
        let why = match self.serve(since).await {
            End::Gone => return,
            End::Closed => {
                // The socket queued the answering close when it read the client's; this
                // writes it.
                let _ = tokio::time::timeout(CLOSE_GRACE, self.tx.close()).await;
                return;
            }
            End::Slow(why) => why,
            End::SessionOver(why) => {
                tracing::info!(why, "stream client's session is over: closing with 1008");
                self.close_with(session_over(why)).await;
                return;
            }
            End::TooBig => {
                tracing::info!("stream client sent a message too large: closing with 1009");
                self.close_with(too_big()).await;
                return;
            }
        };
        self.s.stream.metrics.slow_clients.inc();
        tracing::info!(
            last = self.last,
            why,
            "stream client too slow: closing with 4008"
        );
        let frame = CloseFrame {
            code: SLOW_CLIENT,
            reason: Utf8Bytes::from(format!(
                "too slow ({why}); reconnect with since={}",
                self.last
            )),
        };
        self.close_with(Message::Close(Some(frame))).await;
    }

    /// Sends the close frame, then reads what the client still sends (pongs to the pings it
    /// had not read yet) until its close: a socket closed with unread input is reset, and the
    /// reset would destroy the close frame, and its code, before the client reads it.
    async fn close_with(&mut self, close: Message) {
        let _ = tokio::time::timeout(CLOSE_GRACE, self.tx.send(close)).await;
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(m)) = self.rx.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.s.stream.config.write_timeout_seconds.max(1))
    }

    async fn serve(&mut self, since: Option<i64>) -> End {
        let s = self.s.clone();
        let mut live = s.stream.subscribe();
        let mut health = s.stream.health();
        let _console = match (&self.caller, self.audience.visibility()) {
            (Caller::User(u), Visibility::Post(post_id)) => {
                Box::pin(presence::connect(&s.stream, &u.id, post_id)).await
            }
            _ => None,
        };
        // The one-off steps are boxed: a task is as large as its largest step, and thousands
        // of idle consoles should not each keep room for a database query (24 → 10 KiB each).
        let Ok(latest) = Box::pin(s.store.latest_seq()).await else {
            return End::Gone;
        };
        let resync = match since {
            Some(n) if n > latest => Some("since is ahead of the log"),
            Some(n) if latest - n > s.stream.config.replay_max_events => {
                Some("since is older than the replay window")
            }
            _ => None,
        };
        if let Some(why) = resync {
            if let Err(end) = self.send_text(message::resync(why).into()).await {
                return end;
            }
        }
        let replay_from = since.filter(|_| resync.is_none());
        let now_health = health.borrow_and_update().clone();
        if let Err(end) = Box::pin(self.hello(latest, &now_health)).await {
            return end;
        }
        self.last = latest;
        if let Some(from) = replay_from {
            if let Err(end) = Box::pin(self.replay(from)).await {
                return end;
            }
            // A resident's replay read only their own events, all of them up to the log's end:
            // whatever else came before `latest` is past for them too.
            self.last = self.last.max(latest);
        }

        let queue = s.stream.config.client_queue;
        let idle = Duration::from_secs(s.stream.config.idle_seconds.max(1));
        let mut ping =
            tokio::time::interval(Duration::from_secs(s.stream.config.ping_seconds.max(1)));
        ping.tick().await;
        // Reset by everything the client sends; when it fires, the client is gone.
        let silence = tokio::time::sleep_until(self.last_heard + idle);
        tokio::pin!(silence);
        let officers = *self.audience.visibility() == Visibility::All;
        loop {
            tokio::select! {
                got = live.recv() => match got {
                    Ok(p) => {
                        if let Err(end) = self.send_waiting(&p, &mut live).await {
                            return end;
                        }
                        if live.len() > queue {
                            return End::Slow("its queue is full");
                        }
                    }
                    Err(RecvError::Lagged(_)) => return End::Slow("it fell behind the hub"),
                    Err(RecvError::Closed) => return End::Gone,
                },
                msg = self.rx.next() => match msg {
                    Some(Ok(m)) => {
                        self.last_heard = Instant::now();
                        silence.as_mut().reset(self.last_heard + idle);
                        if let Err(end) = Box::pin(self.on_message(m)).await {
                            return end;
                        }
                    }
                    Some(Err(e)) if is_too_big(&e) => return End::TooBig,
                    _ => return End::Gone,
                },
                () = &mut silence => {
                    tracing::info!("stream client silent too long: dropped");
                    return End::Gone;
                }
                _ = ping.tick() => {
                    if let Err(end) = self.send(Message::Ping(Default::default())).await {
                        return end;
                    }
                }
                why = &mut self.session => return End::SessionOver(why),
                changed = health.changed(), if officers => {
                    if changed.is_err() {
                        return End::Gone;
                    }
                    let h = health.borrow_and_update().clone();
                    if let Err(end) = self.send_text(message::health(&h).into()).await {
                        return end;
                    }
                }
            }
        }
    }

    async fn hello(&mut self, latest: i64, health: &Value) -> Result<(), End> {
        let user = match &self.caller {
            Caller::User(u) => json!(u),
            Caller::Device(d) => json!({ "id": d.id, "role": "device" }),
        };
        let mut filter = IncidentFilter::open(self.audience.visibility().clone());
        filter.limit = 1000;
        let open = self.s.store.list_incidents(&filter).await.map_err(|e| {
            tracing::warn!(error = %e, "stream: cannot read open incidents for a hello");
            End::Gone
        })?;
        let form = self.audience.form();
        // Where each open incident's dispatch stands, so that a page opened now can ring for
        // one nobody received as if it had seen the event.
        let ids: Vec<String> = open.iter().map(|i| i.id.clone()).collect();
        let mut deliveries = self.s.store.delivery_events(&ids).await.map_err(|e| {
            tracing::warn!(error = %e, "stream: cannot read deliveries for a hello");
            End::Gone
        })?;
        let open: Vec<Value> = open
            .iter()
            .map(|i| {
                let mut v = message::incident(i, form);
                let events = deliveries.remove(&i.id).unwrap_or_default();
                let latest = gridwatch_core::delivery::latest(&events);
                v["delivery"] = contacts::delivery(latest.as_ref(), form == Form::Resident);
                v
            })
            .collect();
        let health = if *self.audience.visibility() == Visibility::All {
            health.clone()
        } else {
            Value::Null
        };
        let heartbeat = self.s.stream.config.heartbeat_seconds();
        self.send_text(message::hello(latest, user, &open, &health, heartbeat).into())
            .await
    }

    /// Sends the visible events of the log after `from`, page by page. A resident's are read
    /// through their own incidents only: the log holds everyone's.
    async fn replay(&mut self, from: i64) -> Result<(), End> {
        self.last = from;
        let raised_by = match self.audience.visibility() {
            Visibility::RaisedBy(source) => Some(source.to_string()),
            _ => None,
        };
        loop {
            let read = match &raised_by {
                Some(source) => {
                    self.s
                        .store
                        .events_since_raised_by(source, self.last, REPLAY_PAGE)
                        .await
                }
                None => self.s.store.replay_page(self.last, REPLAY_PAGE).await,
            };
            let events = read.map_err(|_| End::Gone)?;
            let n = events.len();
            let page = with_incidents(&self.s.store, events)
                .await
                .map_err(|_| End::Gone)?;
            for p in &page {
                self.send_event(p).await?;
            }
            if n < REPLAY_PAGE as usize {
                return Ok(());
            }
        }
    }

    /// Sends `first` and the events already waiting behind it (up to 64) in one write:
    /// one system call per console for the events of one change, not one per event.
    async fn send_waiting(
        &mut self,
        first: &Published,
        live: &mut Receiver<Arc<Published>>,
    ) -> Result<(), End> {
        let mut batch = Vec::with_capacity(4);
        if let Some(t) = self.visible(first) {
            batch.push(t);
        }
        for _ in 0..64 {
            match live.try_recv() {
                Ok(p) => {
                    if let Some(t) = self.visible(&p) {
                        batch.push(t);
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(_)) => return Err(End::Slow("it fell behind the hub")),
                Err(TryRecvError::Closed) => return Err(End::Gone),
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let timeout = self.write_timeout();
        let tx = &mut self.tx;
        let write = async move {
            for t in batch {
                tx.feed(Message::Text(t)).await?;
            }
            tx.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Slow("a write blocked")),
        }
    }

    /// The text of an event if the client may see it and has not had it (it is then past it).
    fn visible(&mut self, p: &Published) -> Option<Utf8Bytes> {
        if p.event.seq <= self.last {
            return None;
        }
        self.last = p.event.seq;
        self.audience
            .sees_event(&p.event, p.incident.as_ref())
            .map(|form| p.text(form))
    }

    /// Sends an event if the client may see it and has not had it.
    async fn send_event(&mut self, p: &Published) -> Result<(), End> {
        match self.visible(p) {
            Some(text) => self.send_text(text).await,
            None => Ok(()),
        }
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.send(Message::Text(text)).await
    }

    /// Writes one message; a write blocked for `write_timeout_seconds` means the client does
    /// not read: it is too slow.
    async fn send(&mut self, m: Message) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout(), self.tx.send(m)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Slow("a write blocked")),
        }
    }

    async fn on_message(&mut self, m: Message) -> Result<(), End> {
        let text = match m {
            Message::Text(t) => t,
            Message::Close(_) => return Err(End::Closed),
            // Pongs only prove the client is there; axum answers pings itself.
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Binary(_) => {
                return self
                    .send_text(message::error("binary messages are not understood").into())
                    .await
            }
        };
        match serde_json::from_str::<message::ClientMessage>(&text) {
            Ok(message::ClientMessage::Ping) => self.send_text(message::pong().into()).await,
            Ok(message::ClientMessage::Receipt { seq }) => match self.receipt(seq).await {
                Ok(()) => Ok(()),
                Err(why) => self.send_text(message::error(&why).into()).await,
            },
            Err(e) => {
                self.send_text(
                    message::error(&format!("not a message the hub understands: {e}")).into(),
                )
                .await
            }
        }
    }

    /// Records `incident.delivered` for a dispatch to this console's post.
    async fn receipt(&mut self, seq: i64) -> Result<(), String> {
        let (Caller::User(u), Visibility::Post(post_id)) =
            (&self.caller, self.audience.visibility())
        else {
            return Err("receipts come from a post's console".into());
        };
        let event = self
            .s
            .store
            .event(seq)
            .await
            .map_err(|e| format!("cannot read event {seq}: {e}"))?
            .ok_or_else(|| format!("receipt: there is no event {seq}"))?;
        let to = gridwatch_core::delivery::dispatched_to(&event);
        let (Some(incident_id), true) =
            (event.incident_id.as_deref(), to == Some(post_id.as_str()))
        else {
            return Err(format!(
                "receipt: event {seq} is not a dispatch to your post"
            ));
        };
        let actor = Actor::user(&u.id, format!("stream node {}", self.s.stream.node));
        let recorded = self
            .s
            .store
            .record_delivery(incident_id, seq, post_id, &actor, self.s.now())
            .await
            .map_err(|e| format!("cannot record the receipt: {e}"))?;
        if let Some(e) = recorded {
            self.s.stream.publish_events(vec![e]).await;
        }
        Ok(())
    }
}

/// The close frame for a socket whose session is over.
/// The close of a socket whose client sent a message larger than the hub reads (1009,
/// "message too big").
pub fn too_big() -> Message {
    Message::Close(Some(CloseFrame {
        code: TOO_BIG,
        reason: Utf8Bytes::from_static("message too big"),
    }))
}

/// RFC 6455's "message too big".
pub const TOO_BIG: u16 = 1009;

/// Whether a read failed because the client's message (or frame) exceeded the socket's limit:
/// the connection is still sound, and can be closed properly.
pub fn is_too_big(e: &axum::Error) -> bool {
    use std::error::Error as _;
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        e.source().and_then(|s| s.downcast_ref::<Error>()),
        Some(Error::Capacity(_))
    )
}

pub fn session_over(why: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: SESSION_OVER,
        reason: Utf8Bytes::from_static(why),
    }))
}

/// The login session a WebSocket was opened with, kept so that the socket ends with it: the
/// role check runs once, at the upgrade, and a socket can stay open for a whole shift. It
/// keeps the token's hash (not the bearer token), the user's role and post as they were (they
/// decided what the socket may see) and the expiry.
pub struct SessionWatch {
    s: AppState,
    token_hash: String,
    role: Role,
    post_id: Option<String>,
    expires_at: DateTime<Utc>,
}

impl SessionWatch {
    /// The session of the request, found where the role check found it; 401 when the request
    /// carries no live person's session (devices, whose tokens do not expire, open no socket).
    pub async fn of_request(
        s: &AppState,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> ApiResult<SessionWatch> {
        let token = token_of(headers, query)
            .filter(|t| TokenKind::of(t) == Some(TokenKind::Session))
            .ok_or_else(|| ApiError::unauthorized("a WebSocket needs a person's login session"))?;
        let token_hash = token_hash(&token);
        let (user, expires_at) = s
            .store
            .live_session(&token_hash, s.now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("the token is unknown, expired or revoked"))?;
        Ok(SessionWatch {
            s: s.clone(),
            token_hash,
            role: user.role,
            post_id: user.post_id,
            expires_at,
        })
    }

    /// Starts re-checking on the current runtime (the database's, not a video thread). The
    /// answer resolves with why once the session is over; dropping it stops the checks.
    pub fn spawn(self) -> SessionEnd {
        let (tx, why) = oneshot::channel();
        let lifecycle = self.s.lifecycle.clone();
        let task = lifecycle.spawn_service(async move {
            let _ = tx.send(self.watch().await);
        });
        SessionEnd {
            why,
            watcher: task.abort_handle(),
        }
    }

    /// Re-checks every `auth.session_check_seconds`, and ends at the expiry.
    async fn watch(mut self) -> &'static str {
        let mut tick = tokio::time::interval(self.s.config.auth.session_check_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let expiry = tokio::time::sleep(self.until_expiry());
            tokio::select! {
                _ = expiry => return "the session expired",
                _ = tick.tick() => {
                    if let Some(why) = self.check().await {
                        return why;
                    }
                }
            }
        }
    }

    /// Time left by the hub's clock, as a wait on the runtime's.
    fn until_expiry(&self) -> Duration {
        (self.expires_at - self.s.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// Why the session is over, if it is. A database error ends nothing: a hiccup must not
    /// drop every console and video at once; the next check tries again.
    async fn check(&mut self) -> Option<&'static str> {
        let now = self.s.now();
        if now >= self.expires_at {
            return Some("the session expired");
        }
        match self.s.store.live_session(&self.token_hash, now).await {
            Ok(None) => Some("the session is over: logged out, expired or the user removed"),
            Ok(Some((user, _))) if user.role != self.role || user.post_id != self.post_id => {
                Some("the user's role or post changed: log in again")
            }
            Ok(Some((_, expires_at))) => {
                self.expires_at = expires_at;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-check a WebSocket's session; trying again");
                None
            }
        }
    }
}

/// Resolves with why the session of a socket is over (see [`SessionWatch::spawn`]); cheap to
/// poll, so a video loop can poll it for every frame. Should the checker stop unexpectedly,
/// it resolves too: a socket is not left unchecked.
pub struct SessionEnd {
    why: oneshot::Receiver<&'static str>,
    watcher: tokio::task::AbortHandle,
}

impl Future for SessionEnd {
    type Output = &'static str;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        Pin::new(&mut self.why)
            .poll(cx)
            .map(|why| why.unwrap_or("the session check stopped"))
    }
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}
