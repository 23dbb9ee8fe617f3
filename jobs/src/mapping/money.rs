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
        // Integers (quantities, mostly) need no detour through text.
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Some(Decimal::from(u)),
            (None, Some(i)) => Some(Decimal::from(i)),
            _ => parse_str(&n.to_string()),
        },
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
    let d = d.normalize();
    if let Some(n) = number_without_text(d) {
        return Some(Value::Number(n));
    }
    let text = d.to_string();
    Number::from_str(&text).ok().map(Value::Number)
}

/// Exact powers of ten as `f64` (every one up to 1e22 is representable).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The number serde_json would parse from the decimal text of a normalized
/// `d`, computed the way its parser does (integer → integer; otherwise the
/// significand as `f64` divided by an exact power of ten), without building
/// the text. `None` for the cases it does differently (negative zero, a
/// significand beyond `u64`, more than 22 decimals): those take the text path.
fn number_without_text(d: Decimal) -> Option<Number> {
    if d.is_zero() {
        return d.is_sign_positive().then(|| Number::from(0u64));
    }
    let significand = u64::try_from(d.mantissa().unsigned_abs()).ok()?;
    let negative = d.is_sign_negative();
    let scale = d.scale() as usize;
    if scale == 0 {
        return Some(if !negative {
            Number::from(significand)
        } else {
            Number::from(i64::try_from(significand).ok()?.checked_neg()?)
        });
    }
    let f = significand as f64 / *POW10.get(scale)?;
    Number::from_f64(if negative { -f } else { f })
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
    fn cents_round_half_away_from_zero() {
        assert_eq!(round_cents(d("2.345")), d("2.35"));
        assert_eq!(round_cents(d("-2.345")), d("-2.35"));
        assert_eq!(round_cents(d("2.3449")), d("2.34"));
        assert_eq!(round_cents(d("0.005")), d("0.01"));
    }

    #[test]
    fn allocation_adds_up_to_the_cent_and_gives_the_rest_to_the_last_line() {
        let parts = allocate(d("10.00"), &[d("1"), d("1"), d("1")]);
        assert_eq!(parts, vec![d("3.33"), d("3.33"), d("3.34")]);
        let parts = allocate(d("0.01"), &[d("0"), d("0")]);
        assert_eq!(parts.iter().copied().sum::<Decimal>(), d("0.01"));
        assert!(allocate(d("1"), &[]).is_empty());
    }

    #[test]
    fn numbers_built_without_text_equal_the_ones_parsed_from_text() {
        let via_text = |x: Decimal| {
            Number::from_str(&x.normalize().to_string())
                .ok()
                .map(Value::Number)
        };
        let mut cases: Vec<Decimal> = [
            "0",
            "-0.00",
            "0.00",
            "1",
            "-1",
            "19.99",
            "-19.99",
            "3.20",
            "0.1",
            "0.3",
            "12.77",
            "101.26",
            "1e-22",
            "123456789.123456789",
            "-9223372036854775808",
            "9223372036854775807",
            "18446744073709551615",
            "18446744073709551616",
            "0.0000000000000000000000001",
            "79228162514264337593543950335",
        ]
        .iter()
        .map(|s| parse_str(s).unwrap())
        .collect();
        // Every cent amount from -50.00 to 50.00 and every third of a cent
        // rounded at a handful of scales.
        for cents in -5000..=5000 {
            cases.push(Decimal::new(cents, 2));
            cases.push(Decimal::new(cents, 2) / Decimal::from(3));
            cases.push((Decimal::new(cents, 2) / Decimal::from(7)).round_dp(5));
        }
        for x in cases {
            let (fast, slow) = (to_number(x), via_text(x));
            assert_eq!(
                fast.as_ref().map(Value::to_string),
                slow.as_ref().map(Value::to_string),
                "{x}"
            );
            assert_eq!(fast, slow, "{x}");
        }
        assert_eq!(parse(&json!(-3)), Some(d("-3")));
        assert_eq!(parse(&json!(u64::MAX)), Some(Decimal::from(u64::MAX)));
    }
}
