//! The admin API of notifications: a post's group-bot addresses (validated against the
//! channel they are for), the attempts made for an incident (its "reached by"), and a check
//! of a gateway's templates, so a template with a typo is refused with a clear 400 when it is
//! written rather than when the first SOS goes out.

use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Json, Path};
use crate::notify::gateway::GatewayConfig;
use crate::notify::ChannelConfig;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gridwatch_store::NotifyAttempt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PostContact {
    pub channel: String,
    pub address: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// The bot's webhook URL (WeCom, DingTalk, Feishu, webhook) or an e-mail address (smtp).
    pub address: String,
}

/// Checks that `address` suits the configured channel `channel`.
pub fn check_address(s: &AppState, channel: &str, address: &str) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_contact", m);
    let Some(c) = s.config.notify.channels.get(channel) else {
        let known = s.config.notify.channel_names();
        return Err(bad(format!(
            "no channel {channel:?} is configured; configured: [{}]",
            known.join(", ")
        )));
    };
    if address.len() > 2000 || address.trim() != address || address.is_empty() {
        return Err(bad(
            "address: 1–2000 characters, no surrounding spaces".into()
        ));
    }
    match c {
        ChannelConfig::Sms(_) | ChannelConfig::Voice(_) => Err(bad(format!(
            "channel {channel:?} reaches people's phones (users' and posts' phone numbers), not a group address"
        ))),
        ChannelConfig::Smtp { .. } => address
            .parse::<lettre::message::Mailbox>()
            .map(|_| ())
            .map_err(|e| bad(format!("{address:?} is not an e-mail address: {e}"))),
        _ => {
            if address.starts_with("https://") || address.starts_with("http://") {
                Ok(())
            } else {
                Err(bad(format!("{address:?}: a bot's webhook URL starts with https://")))
            }
        }
    }
}

pub async fn list(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<PostContact>>> {
    s.store.post(&id).await?;
    let rows = s.store.post_contacts(&id).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|(channel, address)| PostContact { channel, address })
            .collect(),
    ))
}

pub async fn put(
    State(s): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
    Json(body): Json<ContactBody>,
) -> ApiResult<axum::Json<PostContact>> {
    check_address(&s, &channel, &body.address)?;
    s.store
        .set_post_contact(&id, &channel, Some(&body.address))
        .await?;
    Ok(axum::Json(PostContact {
        channel,
        address: body.address,
    }))
}

pub async fn delete(
    State(s): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store.set_post_contact(&id, &channel, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every notification attempt for the incident, oldest first.
pub async fn attempts(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<NotifyAttempt>>> {
    s.store.incident(&id).await?;
    Ok(axum::Json(s.store.notify_attempts(&id).await?))
}

/// Checks an SMS or voice gateway's templates: 200 when they parse, 400 saying what is wrong.
pub async fn check_gateway(
    Json(g): Json<serde_json::Value>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let g: GatewayConfig = serde_json::from_value(g)
        .map_err(|e| ApiError::bad_request("invalid_template", e.to_string()))?;
    g.validate()
        .map_err(|e| ApiError::bad_request("invalid_template", e))?;
    Ok(axum::Json(serde_json::json!({"ok": true})))
}
