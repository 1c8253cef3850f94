//! The gridwatch hub: the HTTP and WebSocket edge over the domain (`gridwatch-core`) and the
//! store (`gridwatch-store`), its configuration, and what the `gridwatch` binary runs.
//!
//! Reading order for a newcomer: [`config`] (what can be set), [`state`] (what every handler
//! shares), [`http::endpoints`] (every endpoint, the roles it admits, in one table), then the
//! handler modules it points to.

pub mod cameras;
pub mod config;
pub mod demo;
pub mod http;
pub mod incidents;
pub mod lifecycle;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod recording;
pub mod secret_key;
pub mod server;
pub mod state;
pub mod stream;
pub mod throttle;
pub mod webrtc;
pub mod workers;

pub use config::Config;
pub use state::AppState;
