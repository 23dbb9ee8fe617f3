//! Currency conversion from a tenant's own rate table.
//!
//! A rate is effective from its date until the next rate for the same pair,
//! so [`RateTable::convert`] uses the latest rate dated on or before the
//! document date. A missing rate is a [`CurrencyError::MissingRate`], never a
//! guess: rates are directional and are not inverted or chained through a
//! third currency, because the tenant's books would then disagree with the
//! rate the tenant published.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use time::Date;

pub use super::currency_code::CurrencyCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error(transparent)]
    InvalidCode(#[from] super::currency_code::CodeError),
    #[error("no {from}→{to} rate effective on {date} in the tenant's rate table")]
    MissingRate {
        from: CurrencyCode,
        to: CurrencyCode,
        date: Date,
    },
    #[error("rate {from}→{to} on {date}: {rate} is not a positive number")]
    InvalidRate {
        from: CurrencyCode,
        to: CurrencyCode,
        date: Date,
        rate: Decimal,
    },
    #[error("rate {from}→{to} on {date}: given twice, as {first} and {second}")]
    ConflictingRate {
        from: CurrencyCode,
        to: CurrencyCode,
        date: Date,
        first: Decimal,
        second: Decimal,
    },
    #[error("converting {amount} {from}→{to}: the result is out of range")]
    Overflow {
        amount: Decimal,
        from: CurrencyCode,
        to: CurrencyCode,
    },
}

/// One row of a rate table: 1 `from` = `rate` `to`, effective from `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRow {
    pub from: CurrencyCode,
    pub to: CurrencyCode,
    pub date: Date,
    pub rate: Decimal,
}

/// A tenant's exchange rates by currency pair and effective date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateTable {
    rates: HashMap<(CurrencyCode, CurrencyCode), BTreeMap<Date, Decimal>>,
}

impl RateTable {
    /// Build a table from rows. A non-positive rate, or one pair and date
    /// given two different rates, is refused: either would make a
    /// conversion depend on row order or produce nonsense.
    pub fn from_rows(rows: impl IntoIterator<Item = RateRow>) -> Result<Self, CurrencyError> {
        let mut table = Self::default();
        for row in rows {
            table.insert(row)?;
        }
        Ok(table)
    }

    pub fn insert(&mut self, row: RateRow) -> Result<(), CurrencyError> {
        let RateRow {
            from,
            to,
            date,
            rate,
        } = row;
        if rate <= Decimal::ZERO {
            return Err(CurrencyError::InvalidRate {
                from,
                to,
                date,
                rate,
            });
        }
        let by_date = self.rates.entry((from, to)).or_default();
        match by_date.insert(date, rate) {
            Some(first) if first != rate => Err(CurrencyError::ConflictingRate {
                from,
                to,
                date,
                first,
                second: rate,
            }),
            _ => Ok(()),
        }
    }

    /// The rate effective on `on` (the latest dated on or before it) and the
    /// date it was set.
    pub fn rate_on(
        &self,
        from: CurrencyCode,
        to: CurrencyCode,
        on: Date,
    ) -> Result<(Date, Decimal), CurrencyError> {
        self.rates
            .get(&(from, to))
            .and_then(|by_date| by_date.range(..=on).next_back())
            .map(|(date, rate)| (*date, *rate))
            .ok_or(CurrencyError::MissingRate { from, to, date: on })
    }

    /// Convert `amount` from one currency to another at the rate effective
    /// on `on`, rounded to the target currency's minor unit half away from
    /// zero ([`CurrencyCode::round`]). The same currency returns `amount`
    /// unchanged and needs no rate.
    pub fn convert(
        &self,
        amount: Decimal,
        from: CurrencyCode,
        to: CurrencyCode,
        on: Date,
    ) -> Result<Decimal, CurrencyError> {
        if from == to {
            return Ok(amount);
        }
        let (_, rate) = self.rate_on(from, to, on)?;
        amount
            .checked_mul(rate)
            .map(|converted| to.round(converted))
            .ok_or(CurrencyError::Overflow { amount, from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use time::macros::date;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn c(s: &str) -> CurrencyCode {
        CurrencyCode::parse(s).unwrap()
    }

    fn row(from: &str, to: &str, date: Date, rate: &str) -> RateRow {
        RateRow {
            from: c(from),
            to: c(to),
            date,
            rate: d(rate),
        }
    }

    fn table() -> RateTable {
        RateTable::from_rows([
            row("EUR", "USD", date!(2024 - 01 - 01), "1.10"),
            row("EUR", "USD", date!(2024 - 02 - 01), "1.08"),
            row("USD", "JPY", date!(2024 - 01 - 01), "147.123"),
            row("USD", "KWD", date!(2024 - 01 - 01), "0.30745"),
        ])
        .unwrap()
    }

    #[test]
    fn currency_codes_parse_three_letters_and_are_upper_case() {
        assert_eq!(c(" usd ").as_str(), "USD");
        assert_eq!(c("eur").to_string(), "EUR");
        for bad in ["US", "USDX", "U5D", "", "€UR", "XYZ"] {
            let err = CurrencyError::from(CurrencyCode::parse(bad).unwrap_err());
            assert!(err.to_string().starts_with("currency: "), "{err}");
        }
    }

    #[test]
    fn uses_the_latest_rate_on_or_before_the_date() {
        let t = table();
        let (eur, usd) = (c("EUR"), c("USD"));
        assert_eq!(
            t.convert(d("100"), eur, usd, date!(2024 - 01 - 31))
                .unwrap(),
            d("110.00")
        );
        assert_eq!(
            t.convert(d("100"), eur, usd, date!(2024 - 02 - 01))
                .unwrap(),
            d("108.00")
        );
        assert_eq!(
            t.convert(d("100"), eur, usd, date!(2025 - 06 - 30))
                .unwrap(),
            d("108.00")
        );
        assert_eq!(
            t.rate_on(eur, usd, date!(2024 - 01 - 15)).unwrap(),
            (date!(2024 - 01 - 01), d("1.10"))
        );
    }

    #[test]
    fn a_date_before_every_rate_is_a_missing_rate_not_a_guess() {
        let err = table()
            .convert(d("100"), c("EUR"), c("USD"), date!(2023 - 12 - 31))
            .unwrap_err();
        assert_eq!(
            err,
            CurrencyError::MissingRate {
                from: c("EUR"),
                to: c("USD"),
                date: date!(2023 - 12 - 31)
            }
        );
        assert!(err.to_string().contains("EUR→USD"));
    }

    #[test]
    fn a_missing_pair_is_not_derived_from_its_inverse() {
        let err = table()
            .convert(d("100"), c("USD"), c("EUR"), date!(2024 - 03 - 01))
            .unwrap_err();
        assert!(matches!(err, CurrencyError::MissingRate { .. }), "{err}");
    }

    #[test]
    fn the_same_currency_is_unchanged_without_a_rate() {
        let t = RateTable::default();
        let amount = d("19.999");
        assert_eq!(
            t.convert(amount, c("GBP"), c("GBP"), date!(2024 - 01 - 01))
                .unwrap(),
            amount
        );
    }

    #[test]
    fn results_round_half_away_from_zero_to_the_target_minor_unit() {
        let t = RateTable::from_rows([row("USD", "EUR", date!(2024 - 01 - 01), "0.5")]).unwrap();
        let on = date!(2024 - 01 - 01);
        let (usd, eur) = (c("USD"), c("EUR"));
        assert_eq!(t.convert(d("0.25"), usd, eur, on).unwrap(), d("0.13"));
        assert_eq!(t.convert(d("-0.25"), usd, eur, on).unwrap(), d("-0.13"));
        let t = table();
        // 10.00 × 147.123 = 1471.23 → 1471 (no minor unit).
        assert_eq!(t.convert(d("10.00"), usd, c("JPY"), on).unwrap(), d("1471"));
        // 10.00 × 0.30745 = 3.0745 → 3.075 (three decimals).
        assert_eq!(
            t.convert(d("10.00"), usd, c("KWD"), on).unwrap(),
            d("3.075")
        );
    }

    #[test]
    fn bad_rows_are_refused() {
        let on = date!(2024 - 01 - 01);
        assert!(matches!(
            RateTable::from_rows([row("USD", "EUR", on, "0")]),
            Err(CurrencyError::InvalidRate { .. })
        ));
        assert!(matches!(
            RateTable::from_rows([row("USD", "EUR", on, "0.9"), row("USD", "EUR", on, "0.91")]),
            Err(CurrencyError::ConflictingRate { .. })
        ));
        assert!(
            RateTable::from_rows([row("USD", "EUR", on, "0.9"), row("USD", "EUR", on, "0.90")])
                .is_ok()
        );
    }
}
