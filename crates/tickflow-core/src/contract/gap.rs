//! The feed-gap contract (`schemas/feed_gap.schema.json`): trades of one instrument a venue
//! client knows it missed and could not recover. One document on `raw_trades` (marked by a
//! header) and on `realtime_metrics` (as [`Metric::FeedGap`](super::Metric)).

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use super::Venue;

/// Why the missing trades could not be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The connection was down and the venue offers no way to fetch what was missed (Finnhub).
    Disconnected,
    /// Trade ids were skipped and fetching them over REST failed (Binance).
    BackfillFailed,
    /// More was missed than the snapshot of a new subscription holds (Coinbase).
    BeyondSnapshot,
    /// Too many gaps were open at once; the oldest was given up before it was filled.
    TooManyGaps,
    /// The client stopped while it was still waiting to recover them.
    Stopped,
    /// The source was held (disconnected or recovering) for longer than the stream-processor's
    /// bound: its windows were closed without it; trades of the range that arrive later are
    /// late trades, the others are missing.
    SourceLost,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Disconnected => "disconnected",
            GapReason::BackfillFailed => "backfill_failed",
            GapReason::BeyondSnapshot => "beyond_snapshot",
            GapReason::TooManyGaps => "too_many_gaps",
            GapReason::Stopped => "stopped",
            GapReason::SourceLost => "source_lost",
        }
    }
}

/// Missing trades of one instrument: the time range they lie in and, where the venue numbers
/// its trades, their ids. Times are microseconds since the epoch, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedGap {
    /// `venue:venue_symbol:from_us:to_us`.
    pub gap_key: SmolStr,
    pub venue: Venue,
    pub venue_symbol: SmolStr,
    pub instrument_id: SmolStr,
    pub reason: GapReason,
    pub from_us: i64,
    pub to_us: i64,
    pub first_missing_trade_id: Option<SmolStr>,
    pub last_missing_trade_id: Option<SmolStr>,
    pub missing_trades: Option<u64>,
    pub detected_at_us: i64,
}

impl FeedGap {
    pub fn key(venue: Venue, venue_symbol: &str, from_us: i64, to_us: i64) -> SmolStr {
        smol_str::format_smolstr!("{}:{venue_symbol}:{from_us}:{to_us}", venue.as_str())
    }
}
