//! The fixed-point decimal parses and prints exactly what `rust_decimal` says the text means.

use proptest::prelude::*;
use rust_decimal::Decimal as Exact;
use tickflow_core::decimal::{Decimal, DecimalError};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_agrees_with_rust_decimal(mantissa in any::<i64>(), scale in 0u32..12, exponent in prop::option::of(-12i32..12)) {
        let plain = Exact::from_i128_with_scale(i128::from(mantissa), scale);
        let text = match exponent {
            Some(e) => format!("{}e{e}", plain),
            None => plain.to_string(),
        };
        let value = match exponent {
            Some(e) if e >= 0 => plain.checked_mul(Exact::from_i128_with_scale(10i128.pow(e as u32), 0)),
            Some(e) => Some(plain / Exact::from_i128_with_scale(10i128.pow((-e) as u32), 0)),
            None => Some(plain),
        };
        let expected_units = value.and_then(|v| v.checked_mul(Exact::from(100_000_000))).filter(|u| u.fract().is_zero());
        match Decimal::parse(&text) {
            Ok(parsed) => {
                prop_assert_eq!(Some(Exact::from(parsed.units())), expected_units.map(|u| u.normalize()), "{}", text);
                prop_assert_eq!(parsed.to_string().parse::<Exact>().ok(), value.map(|v| v.normalize()), "prints back {}", text);
            }
            Err(DecimalError::TooPrecise) => prop_assert!(value.is_some_and(|v| !(v * Exact::from(100_000_000)).fract().is_zero()), "{}", text),
            Err(DecimalError::OutOfRange) => prop_assert!(expected_units.is_none_or(|u| u.abs() > Exact::from(i64::MAX)), "{}", text),
            Err(DecimalError::Syntax) => prop_assert!(false, "valid text refused: {}", text),
        }
    }
}
