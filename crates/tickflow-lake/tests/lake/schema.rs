//! The lake's Arrow and Parquet schemas come from `schemas/`, with exact decimals as Parquet
//! DECIMAL and times as UTC timestamps.

use arrow_schema::{DataType, TimeUnit};
use parquet::basic::{LogicalType, TimeUnit as ParquetTimeUnit};
use tickflow_lake::schema::UTC;
use tickflow_lake::{LakeTable, arrow_schema, parquet_schema};

#[test]
fn arrow_schemas_follow_the_contract_files_column_for_column() {
    for table in LakeTable::ALL {
        let document = table.contract.document().expect("contract JSON");
        let properties: Vec<&String> = document["properties"].as_object().expect("properties").keys().collect();
        let schema = arrow_schema(table.contract).expect("derives");
        let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, properties, "{}: columns are the contract's properties, in order", table.name);
        for field in schema.fields() {
            let property = &document["properties"][field.name()];
            let nullable_in_json = property["type"].as_array().is_some_and(|t| t.iter().any(|v| v == "null"));
            assert_eq!(field.is_nullable(), nullable_in_json, "{}.{}", table.name, field.name());
        }
    }
}

#[test]
fn decimals_and_timestamps_keep_their_exact_types() {
    let trades = arrow_schema(LakeTable::TRADES.contract).expect("derives");
    assert_eq!(trades.field_with_name("price").expect("price").data_type(), &DataType::Decimal128(18, 8));
    assert_eq!(trades.field_with_name("trade_value").expect("value").data_type(), &DataType::Decimal128(38, 16));
    assert_eq!(
        trades.field_with_name("event_time_us").expect("time").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
    );
    let candles = arrow_schema(LakeTable::CANDLES.contract).expect("derives");
    assert_eq!(candles.field_with_name("volume").expect("volume").data_type(), &DataType::Decimal128(38, 8));
    assert_eq!(candles.field_with_name("revision").expect("revision").data_type(), &DataType::Int32);
}

#[test]
fn parquet_columns_are_decimal_and_utc_timestamp() {
    let descriptor = parquet_schema(LakeTable::TRADES).expect("converts");
    let column = |name: &str| {
        (0..descriptor.num_columns()).map(|i| descriptor.column(i)).find(|c| c.name() == name).expect(name)
    };
    assert_eq!(column("price").logical_type_ref(), Some(&LogicalType::Decimal { scale: 8, precision: 18 }));
    assert_eq!(
        column("receive_time_us").logical_type_ref(),
        Some(&LogicalType::Timestamp { is_adjusted_to_u_t_c: true, unit: ParquetTimeUnit::MICROS })
    );
    let dead_letters = parquet_schema(LakeTable::DEAD_LETTERS).expect("converts");
    assert_eq!(dead_letters.num_columns(), LakeTable::DEAD_LETTERS.contract.columns().expect("columns").len());
}
