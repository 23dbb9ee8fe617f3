//! Field rules shared by every write (spec §1 "Data formats", §2): FoxPro
//! widths enforced rather than truncated, money N(12,2), quantities N(12,4),
//! `YYYY-MM-DD` dates.

use super::wire::Address;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::seed::QTY_SCALE;
use super::{SpError, SpResult};

/// N(12,2): the largest amount a money field holds.
pub(super) const MAX_MONEY: Decimal =
    Decimal::from_parts(99_999_999_999_u64 as u32, 23, 0, false, 2);

pub(super) fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub(super) fn check_len(field: &str, value: &str, max: usize) -> SpResult<()> {
    let n = value.chars().count();
    if n > max {
        return Err(SpError::validation(
            &format!("{field} is too long"),
            field,
            format!("{field} is {n} characters; the maximum is {max}"),
        ));
    }
    Ok(())
}

pub(super) fn check_money(field: &str, value: Decimal, allow_negative: bool) -> SpResult<()> {
    if value.scale() > 2 && value != round2(value) {
        return Err(SpError::validation(
            "Amount has more than 2 decimals",
            field,
            format!("{field} {value} has more than 2 decimal places"),
        ));
    }
    if value.abs() > MAX_MONEY || (!allow_negative && value < Decimal::ZERO) {
        return Err(SpError::validation(
            "Amount out of range",
            field,
            format!("{field} {value} is out of range"),
        ));
    }
    Ok(())
}

/// A quantity with at most 4 decimals, in ten-thousandths.
pub(super) fn qty_units(field: &str, value: Decimal) -> SpResult<i64> {
    if value.normalize().scale() > 4 {
        return Err(SpError::validation(
            "Quantity has more than 4 decimals",
            field,
            format!("Quantity {value}"),
        ));
    }
    (value * Decimal::from(QTY_SCALE))
        .round()
        .to_i64()
        .filter(|u| u.unsigned_abs() < 1_000_000_000_000_000)
        .ok_or_else(|| {
            SpError::validation(
                "Quantity out of range",
                field,
                format!("Quantity {value} is out of range"),
            )
        })
}

pub(super) fn check_date(field: &str, value: &str) -> SpResult<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &fmt).map_err(|_| {
        SpError::validation(
            &format!("Invalid {field}"),
            field,
            format!("'{value}' is not a YYYY-MM-DD date"),
        )
    })
}

pub(super) fn trimmed(s: &Option<String>) -> String {
    s.as_deref().unwrap_or("").trim().to_owned()
}

/// One of `allowed`, matched case-insensitively and answered in its own case.
pub(super) fn one_of(field: &str, value: &str, allowed: &[&str]) -> SpResult<String> {
    allowed
        .iter()
        .find(|k| k.eq_ignore_ascii_case(value))
        .map(|k| (*k).to_owned())
        .ok_or_else(|| {
            SpError::validation(
                &format!("Invalid {field}"),
                field,
                format!("'{value}' is not one of {}", allowed.join(", ")),
            )
        })
}

pub(super) fn clean_address(field: &str, a: &Address) -> SpResult<Address> {
    let out = Address {
        name: a.name.trim().to_owned(),
        address1: a.address1.trim().to_owned(),
        address2: a.address2.trim().to_owned(),
        city: a.city.trim().to_owned(),
        state: a.state.trim().to_owned(),
        zip: a.zip.trim().to_owned(),
        country: a.country.trim().to_owned(),
        phone: a.phone.trim().to_owned(),
        email: a.email.trim().to_owned(),
    };
    for (name, value, max) in out.fields() {
        check_len(&format!("{field}.{name}"), value, max)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_money_is_the_foxpro_limit() {
        assert_eq!(MAX_MONEY.to_string(), "999999999.99");
    }

    #[test]
    fn money_checks_places_and_range() {
        assert!(check_money("X", Decimal::new(1999, 2), false).is_ok());
        assert!(check_money("X", Decimal::new(19990, 3), false).is_ok());
        assert!(check_money("X", Decimal::new(19991, 3), false).is_err());
        assert!(check_money("X", Decimal::new(-1, 0), false).is_err());
        assert!(check_money("X", Decimal::new(-1, 0), true).is_ok());
    }

    #[test]
    fn quantities_keep_four_places() {
        assert_eq!(qty_units("Q", Decimal::new(25, 1)).unwrap(), 25_000);
        assert!(qty_units("Q", Decimal::new(12345, 5)).is_err());
    }
}
