//! Exact fixed-point decimals for prices, sizes, volumes and notionals.
//!
//! Market data is quoted in decimal; binary floats cannot hold `0.1` exactly, so prices and
//! sizes never pass through `f64` on their way through the pipeline. A [`Decimal`] is an `i64`
//! count of `1e-8` units: eight fractional digits is the finest precision any supported venue
//! quotes, and the range (about ±9.2e10) covers every real price and trade size. Sums that can
//! outgrow that range (window volumes, notionals) use [`WideDecimal`], an `i128` at a chosen
//! scale. The Parquet columns are `DECIMAL(18,8)`, `DECIMAL(38,8)` and `DECIMAL(38,16)`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Fractional digits of a [`Decimal`].
pub const SCALE: u32 = 8;

/// Why text is not a decimal we can hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("not a decimal number")]
    Syntax,
    #[error("more fractional digits than the supported precision")]
    TooPrecise,
    #[error("outside the representable range")]
    OutOfRange,
}

/// An exact decimal with 8 fractional digits (`units * 1e-8`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal(i64);

/// An exact decimal with `S` fractional digits, wide enough for sums (`units * 10^-S`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WideDecimal<const S: u32>(i128);

/// A sum of sizes (window volume): 8 fractional digits, 128-bit.
pub type Volume = WideDecimal<8>;
/// A sum of price × size (trade value, quote volume): 16 fractional digits, 128-bit.
pub type Notional = WideDecimal<16>;

impl Decimal {
    pub const ZERO: Decimal = Decimal(0);

    pub const fn from_units(units: i64) -> Self {
        Decimal(units)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses plain or exponent notation (`"129.58"`, `"-0.001"`, `"1.5e-05"`) exactly.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let units = parse_scaled(text, SCALE)?;
        i64::try_from(units).map(Decimal).map_err(|_| DecimalError::OutOfRange)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e8
    }

    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        self.0.checked_sub(other.0).map(Decimal)
    }

    /// Exact product of a price and a size.
    pub fn mul_exact(self, other: Decimal) -> Notional {
        WideDecimal(i128::from(self.0) * i128::from(other.0))
    }
}

impl<const S: u32> WideDecimal<S> {
    pub const ZERO: Self = WideDecimal(0);

    pub const fn from_units(units: i128) -> Self {
        WideDecimal(units)
    }

    pub const fn units(self) -> i128 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        parse_scaled(text, S).map(WideDecimal)
    }

    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 10f64.powi(S as i32)
    }
}

/// Parses `text` into an integer count of `10^-scale` units, refusing anything inexact.
pub fn parse_scaled(text: &str, scale: u32) -> Result<i128, DecimalError> {
    match parse_plain(text.as_bytes(), scale) {
        Some(units) => Ok(units),
        None => parse_general(text.as_bytes(), scale),
    }
}

/// The common case on the hot path: unsigned plain notation with at most 18 digits, parsed in
/// 64-bit arithmetic. `None` sends everything else to [`parse_general`].
fn parse_plain(bytes: &[u8], scale: u32) -> Option<i128> {
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut fraction_digits: Option<u32> = None;
    for &byte in bytes {
        match byte {
            b'0'..=b'9' if digits < 18 => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digits += 1;
                if let Some(f) = fraction_digits.as_mut() {
                    *f += 1;
                }
            }
            b'.' if fraction_digits.is_none() => fraction_digits = Some(0),
            _ => return None,
        }
    }
    let fraction_digits = fraction_digits.unwrap_or(0);
    if digits == 0 || fraction_digits > scale {
        return None;
    }
    10i128.checked_pow(scale - fraction_digits).map(|factor| i128::from(mantissa) * factor)
}

fn parse_general(bytes: &[u8], scale: u32) -> Result<i128, DecimalError> {
    let (negative, body) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut mantissa: i128 = 0;
    let mut significant = 0u32;
    let mut fraction_digits: i64 = 0;
    let mut digits_seen = false;
    let mut in_fraction = false;
    let mut exponent_text = None;
    for (index, &byte) in body.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                digits_seen = true;
                if mantissa != 0 || byte != b'0' {
                    significant += 1;
                    if significant > 36 {
                        return Err(DecimalError::OutOfRange);
                    }
                }
                mantissa = mantissa * 10 + i128::from(byte - b'0');
                if in_fraction {
                    fraction_digits += 1;
                }
            }
            b'.' if !in_fraction => in_fraction = true,
            b'e' | b'E' => {
                exponent_text = Some(&body[index + 1..]);
                break;
            }
            _ => return Err(DecimalError::Syntax),
        }
    }
    if !digits_seen {
        return Err(DecimalError::Syntax);
    }
    let exponent = exponent_text.map_or(Ok(0), parse_exponent)?;
    // value = mantissa * 10^(exponent - fraction_digits); units = value * 10^scale
    let shift = i64::from(scale) + exponent - fraction_digits;
    let magnitude = if shift >= 0 {
        if mantissa == 0 {
            0
        } else {
            let factor =
                u32::try_from(shift).ok().and_then(|s| 10i128.checked_pow(s)).ok_or(DecimalError::OutOfRange)?;
            mantissa.checked_mul(factor).ok_or(DecimalError::OutOfRange)?
        }
    } else {
        let divisor = u32::try_from(-shift).ok().and_then(|s| 10i128.checked_pow(s));
        match divisor {
            Some(d) if mantissa % d == 0 => mantissa / d,
            _ if mantissa == 0 => 0,
            _ => return Err(DecimalError::TooPrecise),
        }
    };
    Ok(if negative { -magnitude } else { magnitude })
}

fn parse_exponent(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::Syntax);
    }
    let value = digits.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    Ok(if negative { -value } else { value })
}

/// Writes `units * 10^-scale` in plain notation with trailing fractional zeros removed. On the
/// encoding hot path of every service: `itoa` makes the digits (in 64-bit arithmetic whenever
/// the value fits), and they are written as they are, split at the decimal point.
pub(crate) fn write_scaled(f: &mut impl fmt::Write, units: i128, scale: u32) -> fmt::Result {
    const ZEROS: &str = "00000000000000000000000000000000000000000000000000000000000000000000000000000000";
    let scale = (scale as usize).min(ZEROS.len());
    let mut buffer = itoa::Buffer::new();
    let digits = match u64::try_from(units.unsigned_abs()) {
        Ok(magnitude) => buffer.format(magnitude),
        Err(_) => buffer.format(units.unsigned_abs()),
    };
    // The whole part, the zeros that open the fraction, and the fraction's other digits.
    let (whole, leading_zeros, fraction) = match digits.len().checked_sub(scale) {
        Some(whole_len) if whole_len > 0 => (&digits[..whole_len], 0, &digits[whole_len..]),
        _ => ("0", scale - digits.len(), digits),
    };
    let fraction = fraction.trim_end_matches('0');
    if units < 0 {
        f.write_str("-")?;
    }
    f.write_str(whole)?;
    if !fraction.is_empty() {
        f.write_str(".")?;
        f.write_str(&ZEROS[..leading_zeros])?;
        f.write_str(fraction)?;
    }
    Ok(())
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, i128::from(self.0), SCALE)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<const S: u32> fmt::Display for WideDecimal<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, S)
    }
}

impl<const S: u32> fmt::Debug for WideDecimal<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Decimal {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_str(self)
    }
}

impl<const S: u32> Serialize for WideDecimal<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Decimal::parse(&text).map_err(de::Error::custom)
    }
}

impl<'de, const S: u32> Deserialize<'de> for WideDecimal<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        WideDecimal::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Result<i64, DecimalError> {
        Decimal::parse(text).map(Decimal::units)
    }

    #[test]
    fn parses_plain_and_exponent_notation_exactly() {
        assert_eq!(units("129.58"), Ok(12_958_000_000));
        assert_eq!(units("0.00000001"), Ok(1));
        assert_eq!(units("-0.5"), Ok(-50_000_000));
        assert_eq!(units("100"), Ok(10_000_000_000));
        assert_eq!(units("1.5e-05"), Ok(1_500));
        assert_eq!(units("2E+3"), Ok(200_000_000_000));
        assert_eq!(units("0.10000000000"), Ok(10_000_000));
        assert_eq!(units("000.0"), Ok(0));
    }

    #[test]
    fn refuses_what_it_cannot_hold_exactly() {
        assert_eq!(units("0.000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(units("1e12"), Err(DecimalError::OutOfRange));
        assert_eq!(units("NaN"), Err(DecimalError::Syntax));
        assert_eq!(units(""), Err(DecimalError::Syntax));
        assert_eq!(units("."), Err(DecimalError::Syntax));
        assert_eq!(units("1.2.3"), Err(DecimalError::Syntax));
        assert_eq!(units("1e"), Err(DecimalError::Syntax));
        assert_eq!(units("1e99999"), Err(DecimalError::Syntax));
        assert_eq!(units(" 1"), Err(DecimalError::Syntax));
    }

    #[test]
    fn displays_canonical_text() {
        assert_eq!(Decimal::from_units(12_958_000_000).to_string(), "129.58");
        assert_eq!(Decimal::from_units(-1).to_string(), "-0.00000001");
        assert_eq!(Decimal::from_units(0).to_string(), "0");
        assert_eq!(Decimal::from_units(i64::MIN).to_string(), "-92233720368.54775808");
        assert_eq!(Notional::from_units(15).to_string(), "0.0000000000000015");
        assert_eq!(Notional::from_units(i128::MIN).to_string(), "-17014118346046923173168.7303715884105728");
        assert_eq!(Notional::from_units(-20_000_000_000_000_000).to_string(), "-2");
    }

    /// The digit-by-digit writer against the arithmetic definition, over values that fit in 64
    /// bits and values that do not, at the scales the contract uses.
    #[test]
    fn display_agrees_with_the_arithmetic_definition() {
        fn reference(units: i128, scale: u32) -> String {
            let one = 10u128.pow(scale);
            let (whole, fraction) = (units.unsigned_abs() / one, units.unsigned_abs() % one);
            let sign = if units < 0 { "-" } else { "" };
            let fraction = format!("{fraction:0width$}", width = scale as usize);
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
        }
        let mut value: i128 = 1;
        for step in 0..2_000i128 {
            value = value.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407 + step);
            for units in [value, value >> 64, value >> 100, (value >> 64) / 1_000 * 1_000, -(value >> 90)] {
                assert_eq!(Decimal::from_units(units as i64).to_string(), reference(i128::from(units as i64), SCALE));
                assert_eq!(Notional::from_units(units).to_string(), reference(units, 16));
            }
        }
    }
}
