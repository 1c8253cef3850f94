//! The admin API of notification rules (issue 18): the rules of `[notify]` in the
//! configuration file are listed as they are (changed only there); rules saved here live in
//! the database and apply on every hub node from the next event on. A saved rule is checked
//! with all the others against the configured channels, so one naming a channel that does
//! not exist, or an event that never notifies, is a 400 naming the field, not a silent rule.

use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use gridwatch_core::event::EventType;
use gridwatch_core::notify::rule::{self, Recipients, Rule, RuleError};
use gridwatch_core::ValidationError;
use serde::{Deserialize, Serialize};

/// A rule as listed: where it comes from, and the rule.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListedRule {
    /// `config` (the configuration file: read-only here) or `api` (saved here).
    pub source: &'static str,
    #[serde(flatten)]
    pub rule: Rule,
}

/// `PUT /api/v1/notify/rules/{name}`'s body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub on: Vec<EventType>,
    pub to: Recipients,
    pub channel: String,
}

/// Every rule in force: the configuration's, then the saved ones.
pub async fn list(State(s): State<AppState>) -> ApiResult<axum::Json<Vec<ListedRule>>> {
    let config = s
        .config
        .notify
        .rules
        .iter()
        .cloned()
        .map(|rule| ListedRule {
            source: "config",
            rule,
        });
    let saved = s
        .store
        .notify_rules()
        .await?
        .into_iter()
        .map(|rule| ListedRule {
            source: "api",
            rule,
        });
    Ok(axum::Json(config.chain(saved).collect()))
}

fn in_config(s: &AppState, name: &str) -> Result<(), ApiError> {
    if s.config.notify.rules.iter().any(|r| r.name == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("rule {name:?} is defined in the configuration file ([notify] rules): change it there"),
        ));
    }
    Ok(())
}

/// Saves a rule (creates, or replaces the saved one of that name).
pub async fn put(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<RuleBody>,
) -> ApiResult<axum::Json<Rule>> {
    in_config(&s, &name)?;
    let rule = Rule {
        name: name.clone(),
        on: body.on,
        to: body.to,
        channel: body.channel,
    };
    let mut all: Vec<Rule> = s.config.notify.rules.clone();
    all.extend(
        s.store
            .notify_rules()
            .await?
            .into_iter()
            .filter(|r| r.name != name),
    );
    all.push(rule.clone());
    let channels = s.config.notify.channel_names();
    rule::check(&all, &channels).map_err(|e| {
        let field = match &e {
            RuleError::BadName(_) | RuleError::Duplicate(_) => "name",
            RuleError::UnknownChannel { .. } => "channel",
            RuleError::NotNotifiable { .. } | RuleError::NoEvents(_) => "on",
        };
        ApiError::from(ValidationError::new(field, e.to_string()))
    })?;
    s.store.put_notify_rule(&rule, s.now()).await?;
    tracing::info!(rule = %name, "notification rule saved");
    Ok(axum::Json(rule))
}

/// Removes a saved rule.
pub async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    in_config(&s, &name)?;
    s.store.delete_notify_rule(&name).await?;
    tracing::info!(rule = %name, "notification rule removed");
    Ok(StatusCode::NO_CONTENT)
}
