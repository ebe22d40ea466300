//! The producer's parts, for its binary and its tests: where frames come from (`source`, and the
//! live venue clients in `live`), how they are recorded (`capture`), how they become
//! `raw_trades` records (`publish`; `records` where a live client encodes them) and where the
//! clients pick up after a restart (`resume`).

pub mod capture;
pub mod live;
pub mod publish;
pub mod records;
pub mod resume;
pub mod sessions;
pub mod source;
