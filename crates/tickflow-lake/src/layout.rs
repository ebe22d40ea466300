//! Where things live in the lake. Dates come from event time (UTC).

use object_store::path::Path;

use crate::schema::LakeTable;

/// The folder of progress markers, outside every table.
pub const PROGRESS_DIR: &str = "_progress";

/// `YYYY-MM-DD` (UTC) of a time in microseconds since the epoch.
pub fn date_of(time_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(time_us)
        .map_or_else(|| "1970-01-01".to_owned(), |t| t.format("%Y-%m-%d").to_string())
}

/// A partition value safe in a path: letters, digits, `.`, `_` and `-` kept, the rest `_`.
pub fn partition_value(text: &str) -> String {
    let cleaned: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if cleaned.is_empty() { "_none".to_owned() } else { cleaned }
}

/// The file holding records of `topic`/`partition` from `first_offset` on, for one date and symbol.
pub fn data_file(table: LakeTable, date: &str, symbol: &str, topic: &str, partition: i32, first_offset: i64) -> Path {
    Path::from(format!(
        "{}/date={date}/symbol={}/{topic}-{partition}-{first_offset:020}.parquet",
        table.name,
        partition_value(symbol)
    ))
}

/// The folder of a topic partition's batch markers.
pub fn progress_dir(topic: &str, partition: i32) -> Path {
    Path::from(format!("{PROGRESS_DIR}/{topic}/{partition}"))
}

/// The marker of the batch that starts at `first_offset`.
pub fn progress_marker(topic: &str, partition: i32, first_offset: i64) -> Path {
    Path::from(format!("{PROGRESS_DIR}/{topic}/{partition}/{first_offset:020}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_documented_layout() {
        let path = data_file(LakeTable::TRADES, &date_of(1_704_898_800_000_000), "BTC-USDT", "enriched_trades", 3, 42);
        assert_eq!(
            path.as_ref(),
            "trades/date=2024-01-10/symbol=BTC-USDT/enriched_trades-3-00000000000000000042.parquet"
        );
        assert_eq!(partition_value("BINANCE:BTC/USDT"), "BINANCE_BTC_USDT");
        assert_eq!(partition_value(""), "_none");
        assert_eq!(
            progress_marker("dead_letters", 0, 7).as_ref(),
            "_progress/dead_letters/0/00000000000000000007.json"
        );
    }
}
