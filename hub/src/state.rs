//! What every request handler shares.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::throttle::LoginThrottle;
use chrono::{DateTime, Utc};
use gridwatch_core::clock::Clock;
use gridwatch_store::Store;
use std::sync::Arc;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> AppState {
        let throttle = LoginThrottle::new(
            config.auth.max_failed_logins,
            chrono::Duration::seconds(config.auth.lockout_seconds as i64),
        );
        AppState {
            store,
            clock,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            throttle: Arc::new(throttle),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
