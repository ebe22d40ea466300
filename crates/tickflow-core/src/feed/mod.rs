//! The decisions of a live venue connection, without IO: when to reconnect ([`Backoff`]) and
//! what a trade id says about missed or repeated trades ([`TradeIds`]). The producer's WebSocket
//! clients are the shells around these.

mod backoff;
mod trade_ids;

pub use backoff::Backoff;
pub use trade_ids::{IdCheck, TradeIds};
