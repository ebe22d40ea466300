//! The decisions of a live venue connection, without IO: when to reconnect ([`Backoff`]) and
//! what a trade id says about missed or repeated trades ([`TradeIds`]), where a feed without ids
//! may have lost trades ([`Outages`]), and what is reported when
//! missed trades cannot be recovered ([`MissedTrades`], checked downstream by [`check_gap`]). The
//! producer's WebSocket clients are the shells around these.

mod backoff;
mod missed;
mod outages;
mod rest;
mod trade_ids;

pub use backoff::{Backoff, Retries};
pub use missed::{MissedTrades, check_gap};
pub use outages::Outages;
pub use rest::{RestRetries, RestStep};
pub use trade_ids::{IdCheck, MissingIds, TradeIds};
