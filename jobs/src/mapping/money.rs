//! Exact decimal arithmetic for money and quantities.
//!
//! Clarity sends money as decimal strings (`"19.99"`). Nothing here goes
//! through `f64`: strings are parsed into [`Decimal`], added up exactly, and
//! turned into JSON numbers from their decimal text, so `19.99` stays `19.99`.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};

/// Parse a JSON string or number as a decimal.
pub(crate) fn parse(value: &Value) -> Option<Decimal> {
    match value {
        Value::String(s) => parse_str(s.trim()),
        Value::Number(n) => parse_str(&n.to_string()),
        _ => None,
    }
}

fn parse_str(s: &str) -> Option<Decimal> {
    if s.is_empty() {
        return None;
    }
    Decimal::from_str(s)
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
}

/// A JSON number with exactly the digits of `d` (trailing zeros dropped).
pub(crate) fn to_number(d: Decimal) -> Option<Value> {
    let text = d.normalize().to_string();
    Number::from_str(&text).ok().map(Value::Number)
}

/// A decimal string with at least two decimal places (`"5"` → `"5.00"`).
pub(crate) fn to_money_string(d: Decimal) -> String {
    let mut d = d;
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// Round half away from zero to cents.
pub(crate) fn round_cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// True when `d` has no non-zero digit after the second decimal place.
pub(crate) fn has_at_most_cents(d: Decimal) -> bool {
    d.normalize().scale() <= 2
}

/// Split `remainder` over lines in proportion to `weights`, to the cent:
/// every line but the last gets its rounded share, the last gets what is left,
/// so the parts always add up to `remainder` exactly. With all weights zero the
/// split is even. Returns one part per weight (none for no weights).
pub(crate) fn allocate(remainder: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let total_weight: Decimal = weights.iter().copied().sum();
    let mut parts = Vec::with_capacity(n);
    let mut given = Decimal::ZERO;
    for w in &weights[..n - 1] {
        let share = if total_weight.is_zero() {
            remainder / Decimal::from(n)
        } else {
            remainder * *w / total_weight
        };
        let share = round_cents(share);
        given += share;
        parts.push(share);
    }
    parts.push(remainder - given);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn parses_strings_and_numbers_without_float_drift() {
        assert_eq!(parse(&json!("19.99")), Some(d("19.99")));
        assert_eq!(parse(&json!(2)), Some(d("2")));
        assert_eq!(parse(&json!(0.1)), Some(d("0.1")));
        assert_eq!(parse(&json!("abc")), None);
        assert_eq!(to_number(d("3.20")), Some(json!(3.2)));
        assert_eq!(to_number(d("19.99")).unwrap().to_string(), "19.99");
        assert_eq!(to_money_string(d("5")), "5.00");
        assert_eq!(to_money_string(d("-2.00")), "-2.00");
    }

    #[test]
    fn allocation_adds_up_to_the_cent_and_gives_the_rest_to_the_last_line() {
        let parts = allocate(d("10.00"), &[d("1"), d("1"), d("1")]);
        assert_eq!(parts, vec![d("3.33"), d("3.33"), d("3.34")]);
        let parts = allocate(d("0.01"), &[d("0"), d("0")]);
        assert_eq!(parts.iter().copied().sum::<Decimal>(), d("0.01"));
        assert!(allocate(d("1"), &[]).is_empty());
    }
}
