//! The notification worker: claims outbox events and expands them into deliveries by the
//! rules, then claims due deliveries and sends them, recording each attempt. One
//! [`Notifier::tick`] does one round of both with the clock's time, so tests drive it with a
//! manual clock; [`spawn`] runs ticks every `poll_seconds` in the hub.
//!
//! At least once: a delivery is marked sent only after the receiver said yes; a node that
//! dies between the two leaves it claimed until the lease runs out, and it is sent again with
//! the same idempotency key.

use super::bots::{Bot, BotKind};
use super::channel::{Channel, Outgoing};
use super::email::Email;
use super::gateway::Gateway;
use super::webhook::Webhook;
use super::{ChannelConfig, NotifyConfig};
use crate::metrics::Metrics;
use gridwatch_core::clock::Clock;
use gridwatch_core::event::{Event, EventType};
use gridwatch_core::notify::message::compose;
use gridwatch_core::notify::retry::{ChannelHealth, HealthChange};
use gridwatch_core::notify::rule::{event_post, matching, quiet_hours_apply, Recipients, Rule};
use gridwatch_core::notify::{idempotency_key, OutboxEntry};
use gridwatch_core::Role;
use gridwatch_store::{AttemptOutcome, NewDelivery, Store, StoreError};
use prometheus::{IntCounterVec, Opts};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The channels failing now (three failures in a row, no success since), shared with the
/// stream's health message.
pub type FailingChannels = Arc<Mutex<BTreeSet<String>>>;

/// Events expanded and deliveries claimed per round, at most.
const BATCH: u32 = 64;

/// What one round did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub expanded: usize,
    pub sent: usize,
    pub failed: usize,
}

pub struct Notifier {
    store: Store,
    clock: Arc<dyn Clock>,
    config: NotifyConfig,
    /// This node's name in claims.
    node: String,
    channels: HashMap<String, Arc<dyn Channel>>,
    health: Mutex<HashMap<String, ChannelHealth>>,
    /// The channels failing now, for the stream's health message.
    failing: FailingChannels,
    sent: IntCounterVec,
}

impl Notifier {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: NotifyConfig,
        node: String,
        metrics: &Metrics,
    ) -> Result<Notifier, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(
                config.timeout_seconds.max(1),
            ))
            .build()
            .map_err(|e| e.to_string())?;
        let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
        for (name, c) in &config.channels {
            let bot = |kind, secret: &Option<String>| -> Arc<dyn Channel> {
                Arc::new(Bot {
                    kind,
                    http: http.clone(),
                    secret: secret.clone(),
                    clock: clock.clone(),
                })
            };
            let ch: Arc<dyn Channel> = match c {
                ChannelConfig::Webhook { secret } => Arc::new(Webhook {
                    http: http.clone(),
                    secret: secret.clone(),
                    clock: clock.clone(),
                }),
                ChannelConfig::Wecom {} => bot(BotKind::WeCom, &None),
                ChannelConfig::Dingtalk { secret } => bot(BotKind::DingTalk, secret),
                ChannelConfig::Feishu { secret } => bot(BotKind::Feishu, secret),
                ChannelConfig::Sms(g) => Arc::new(Gateway {
                    kind: "sms",
                    config: g.clone(),
                    http: http.clone(),
                }),
                ChannelConfig::Voice(g) => Arc::new(Gateway {
                    kind: "voice",
                    config: g.clone(),
                    http: http.clone(),
                }),
                ChannelConfig::Smtp { host, port, from } => Arc::new(
                    Email::new(host, *port, from).map_err(|e| format!("channel {name}: {e}"))?,
                ),
            };
            channels.insert(name.clone(), ch);
        }
        let sent = IntCounterVec::new(
            Opts::new(
                "notifications_total",
                "Notification attempts, by channel and outcome (sent, failed, gave_up)",
            ),
            &["channel", "outcome"],
        )
        .expect("metric");
        metrics.register(Box::new(sent.clone()));
        Ok(Notifier {
            store,
            clock,
            config,
            node,
            channels,
            health: Default::default(),
            failing: Default::default(),
            sent,
        })
    }

    /// The channels failing now (three failures in a row, no success since).
    pub fn failing(&self) -> FailingChannels {
        self.failing.clone()
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.config.lease_seconds.max(1) as i64)
    }

    /// One round: expand what the outbox holds, then send what is due.
    pub async fn tick(&self) -> Result<Round, StoreError> {
        let mut round = Round::default();
        loop {
            let now = self.clock.now();
            let events = self
                .store
                .claim_notify_events(&self.node, now, self.lease(), BATCH)
                .await?;
            if events.is_empty() {
                break;
            }
            for e in &events {
                let deliveries = self.expand(e).await?;
                self.store.expand_notify_event(e, &deliveries, now).await?;
                round.expanded += 1;
            }
        }
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .claim_deliveries(&self.node, now, self.lease(), BATCH)
                .await?;
            if due.is_empty() {
                break;
            }
            for d in &due {
                if self.deliver(d).await? {
                    round.sent += 1;
                } else {
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }

    /// The deliveries an event makes under the rules.
    async fn expand(&self, e: &Event) -> Result<Vec<NewDelivery>, StoreError> {
        // The configuration's rules and those saved through the API (read each time: a rule
        // saved on another node applies here too). A saved rule whose channel has since left
        // the configuration is skipped, and said.
        let mut all = self.config.rules.clone();
        for r in self.store.notify_rules().await? {
            if self.channels.contains_key(&r.channel) {
                all.push(r);
            } else {
                tracing::warn!(rule = %r.name, channel = %r.channel, "saved rule's channel is not configured: skipped");
            }
        }
        let rules = matching(&all, e);
        if rules.is_empty() {
            return Ok(vec![]);
        }
        let incident = match &e.incident_id {
            Some(id) => Some(self.store.incident(id).await?),
            None => None,
        };
        // The post: named by the event, else the incident's current one (at risk, breached);
        // an escalation upwards (to the duty officers) concerns no post.
        let post = match e.kind {
            EventType::IncidentEscalated => event_post(e).map(str::to_owned),
            _ => event_post(e)
                .map(str::to_owned)
                .or_else(|| incident.as_ref().and_then(|i| i.post_id.clone())),
        };
        let now = self.clock.now();
        let not_before = match &self.config.quiet_hours {
            Some(q) if quiet_hours_apply(e.kind, incident.as_ref().map(|i| i.kind)) => {
                q.ends_after(now)
            }
            _ => now,
        };
        let mut out = vec![];
        for rule in rules {
            for to in self.recipients(rule, post.as_deref()).await? {
                out.push(NewDelivery {
                    key: idempotency_key(e.seq, &rule.name, &to),
                    rule: rule.name.clone(),
                    channel: rule.channel.clone(),
                    recipient: to,
                    not_before,
                });
            }
        }
        Ok(out)
    }

    /// The addresses a rule's recipients stand for now.
    async fn recipients(&self, rule: &Rule, post: Option<&str>) -> Result<Vec<String>, StoreError> {
        let phones = |role: Role, post: Option<&str>, users: Vec<gridwatch_core::user::User>| {
            users
                .into_iter()
                .filter(|u| u.role == role && (post.is_none() || u.post_id.as_deref() == post))
                .filter_map(|u| u.phone.filter(|p| !p.trim().is_empty()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        };
        Ok(match &rule.to {
            Recipients::Address(a) => vec![a.clone()],
            Recipients::DutyOfficers => phones(Role::DutyOfficer, None, self.store.users().await?),
            Recipients::PostResponders => match post {
                Some(p) => phones(Role::Responder, Some(p), self.store.users().await?),
                None => vec![],
            },
            Recipients::PostPhone => match post {
                Some(p) => match self.store.post(p).await {
                    Ok(post) => post.phone.into_iter().collect(),
                    Err(StoreError::NotFound { .. }) => vec![],
                    Err(e) => return Err(e),
                },
                None => vec![],
            },
            Recipients::PostGroup => match post {
                Some(p) => self
                    .store
                    .post_contacts(p)
                    .await?
                    .into_iter()
                    .filter(|(ch, _)| *ch == rule.channel)
                    .map(|(_, a)| a)
                    .collect(),
                None => vec![],
            },
        })
    }

    /// Sends one delivery and records the attempt; whether it was delivered.
    async fn deliver(&self, d: &OutboxEntry) -> Result<bool, StoreError> {
        let Some(event) = self.store.event(d.event_seq).await? else {
            return Ok(false);
        };
        let message = compose(&event, &self.config.console_url);
        let post = event_post(&event).map(str::to_owned);
        let result = match self.channels.get(&d.channel) {
            Some(ch) => {
                ch.send(Outgoing {
                    key: &d.key,
                    recipient: &d.recipient,
                    message: &message,
                    event: &event,
                    post: post.as_deref(),
                })
                .await
            }
            None => Err(super::channel::SendError::BadRecipient(format!(
                "channel {} is no longer configured",
                d.channel
            ))),
        };
        let now = self.clock.now();
        let attempts = d.attempts + 1;
        let (outcome, detail) = match &result {
            Ok(()) => (AttemptOutcome::Sent, None),
            Err(e) => {
                let next = e
                    .is_transient()
                    .then(|| self.config.retry.next_attempt(attempts, &d.key, now))
                    .flatten();
                let o = next.map_or(AttemptOutcome::GaveUp, AttemptOutcome::Retry);
                (o, Some(e.to_string()))
            }
        };
        self.store
            .finish_delivery(d, outcome, detail.as_deref(), now)
            .await?;
        self.sent
            .with_label_values(&[d.channel.as_str(), outcome.as_str()])
            .inc();
        match &result {
            Ok(()) => tracing::info!(key = %d.key, channel = %d.channel, "notification sent"),
            Err(e) => tracing::warn!(key = %d.key, channel = %d.channel, attempts, error = %e,
                outcome = outcome.as_str(), "notification not delivered"),
        }
        self.note_health(&d.channel, result.is_ok());
        Ok(result.is_ok())
    }

    fn note_health(&self, channel: &str, ok: bool) {
        let change = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            h.entry(channel.to_string()).or_default().record(ok)
        };
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        match change {
            Some(HealthChange::Failing) => {
                tracing::error!(channel, "notification channel keeps failing");
                failing.insert(channel.to_string());
            }
            Some(HealthChange::Recovered) => {
                tracing::info!(channel, "notification channel recovered");
                failing.remove(channel);
            }
            None => {}
        }
    }
}

/// Runs the worker until the hub stops: a round every `poll_seconds`. A round cut short at
/// shutdown leaves its deliveries in the outbox, for the next start.
pub fn spawn(notifier: Arc<Notifier>, lifecycle: &crate::lifecycle::Lifecycle) {
    let every = std::time::Duration::from_secs(notifier.config.poll_seconds.max(1));
    lifecycle.spawn_service(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = notifier.tick().await {
                tracing::warn!(error = %e, "notification round failed; trying again");
            }
        }
    });
}
