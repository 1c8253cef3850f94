//! Acting on incidents (dispatch, acknowledge, set off, arrive, resolve, cancel) from any edge:
//! the store applies the action under the state machine in one transaction; this publishes
//! the change and wakes the timer engine when the action armed a timer.

use super::Incidents;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{Action, Incident};
use gridwatch_store::{Applied, StoreError};
use serde_json::Value;

/// Applies `action` to incident `id` as `actor`; `guard` sees the incident as it is inside the
/// transaction and may refuse ([`StoreError::NotAllowed`], [`StoreError::IllegalTransition`]).
/// `extra` is added to the event's data (e.g. where the officer arrived).
pub async fn act<G>(
    incidents: &Incidents,
    id: &str,
    action: &Action,
    actor: &Actor,
    extra: Option<&Value>,
    guard: G,
) -> Result<Applied, StoreError>
where
    G: FnOnce(&Incident) -> Result<(), StoreError> + Send,
{
    let applied = incidents
        .store
        .act_on_incident(id, action, actor, extra, incidents.now(), guard)
        .await?;
    incidents.publish(&applied.incident, &applied.events);
    if matches!(action, Action::Dispatch { .. }) {
        incidents.wake_timers();
    }
    tracing::info!(incident = %id, action = action.name(), state = %applied.incident.state,
        actor = %actor.actor, "incident changed");
    Ok(applied)
}
