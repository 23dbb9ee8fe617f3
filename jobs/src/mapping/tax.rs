//! Tax normalization: one shape for tax whatever the shop sent.
//!
//! Shops price tax-inclusive (EU, UK, AU) or tax-exclusive (US, CA) and give
//! tax per line or per order; ERPs want net, tax and gross per line and a tax
//! detail of their own. Every amount here is rounded to the cent half away
//! from zero, once per line (not per unit), and the amount the customer was
//! charged is never moved by rounding: for inclusive prices the gross is kept
//! and the net is gross − tax; for exclusive prices the net is kept and the
//! gross is net + tax.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::money::{allocate, has_at_most_cents, round_cents};

/// Whether a price includes tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxMode {
    Inclusive,
    Exclusive,
}

/// A tax rate between 0 % and 100 %, held as a fraction (20 % is 0.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaxRate(Decimal);

impl TaxRate {
    /// A rate given in percent: `from_percent(20)` is 20 %.
    pub fn from_percent(percent: Decimal) -> Result<Self, TaxError> {
        Self::from_fraction(percent / Decimal::ONE_HUNDRED)
    }

    /// A rate given as a fraction: `from_fraction(0.2)` is 20 %.
    pub fn from_fraction(fraction: Decimal) -> Result<Self, TaxError> {
        if fraction < Decimal::ZERO || fraction > Decimal::ONE {
            return Err(TaxError::InvalidRate {
                rate: fraction * Decimal::ONE_HUNDRED,
            });
        }
        // Normalized so 0.2 and 0.20 are one map key.
        Ok(Self(fraction.normalize()))
    }

    pub fn fraction(&self) -> Decimal {
        self.0
    }

    pub fn percent(&self) -> Decimal {
        (self.0 * Decimal::ONE_HUNDRED).normalize()
    }
}

impl fmt::Display for TaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.percent())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error("tax rate {rate}%: must be between 0% and 100%")]
    InvalidRate { rate: Decimal },
    #[error("tax rate {value:?}: not a percentage like \"20%\"")]
    UnreadableRate { value: String },
    #[error("`{field}` = {value}: amounts must be whole cents")]
    NotCents { field: &'static str, value: Decimal },
    #[error("`{field}`: the amount is out of range")]
    Overflow { field: &'static str },
    #[error(
        "{} is not mapped to an ERP tax detail (mapped: {})",
        describe(code.as_deref(), *rate),
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    Unmapped {
        code: Option<String>,
        rate: Option<TaxRate>,
        known: Vec<String>,
    },
    #[error("tax key {key:?} maps to both {first:?} and {second:?}")]
    ConflictingMapping {
        key: String,
        first: String,
        second: String,
    },
}

fn describe(code: Option<&str>, rate: Option<TaxRate>) -> String {
    match (code, rate) {
        (Some(code), _) => format!("tax code {code:?}"),
        (None, Some(rate)) => format!("tax rate {rate}"),
        (None, None) => "a line with neither tax code nor rate".to_owned(),
    }
}

/// One line's amounts, each to the cent, with `net + tax == gross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTax {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

/// Net, tax and gross of `qty` units at `price` taxed at `rate`.
///
/// Inclusive: gross = round(price × qty), tax = round(gross × rate / (1 +
/// rate)), net = gross − tax. Exclusive: net = round(price × qty), tax =
/// round(net × rate), gross = net + tax. Rounding is to the cent, half away
/// from zero; 19.99 including 20 % is net 16.66, tax 3.33.
pub fn normalize_line(
    price: Decimal,
    qty: Decimal,
    rate: TaxRate,
    mode: TaxMode,
) -> Result<LineTax, TaxError> {
    let overflow = || TaxError::Overflow { field: "price" };
    let extended = round_cents(price.checked_mul(qty).ok_or_else(overflow)?);
    let r = rate.fraction();
    let tax = match mode {
        TaxMode::Inclusive => extended
            .checked_mul(r)
            .and_then(|t| t.checked_div(Decimal::ONE + r)),
        TaxMode::Exclusive => extended.checked_mul(r),
    }
    .map(round_cents)
    .ok_or_else(overflow)?;
    Ok(match mode {
        TaxMode::Inclusive => LineTax {
            net: extended - tax,
            tax,
            gross: extended,
        },
        TaxMode::Exclusive => LineTax {
            net: extended,
            tax,
            gross: extended
                .checked_add(tax)
                .ok_or(TaxError::Overflow { field: "gross" })?,
        },
    })
}

/// Spread an order-level tax over lines in proportion to their net amounts:
/// each line but the last gets its share rounded to the cent (half away from
/// zero), the last gets the rest, so the parts add up to `order_tax` exactly.
/// Lines whose nets are all zero share it evenly.
pub fn allocate_order_tax(
    order_tax: Decimal,
    line_nets: &[Decimal],
) -> Result<Vec<Decimal>, TaxError> {
    if !has_at_most_cents(order_tax) {
        return Err(TaxError::NotCents {
            field: "orderTax",
            value: order_tax,
        });
    }
    Ok(allocate(order_tax, line_nets))
}

/// Source tax codes and rates → the ERP's tax detail ids (Intacct
/// `TAXDETAILID`, Sage Pro tax class), from a template's lookup table.
///
/// A line with a tax code is mapped by its code alone (case-insensitive);
/// the rate is used only for lines that carry no code, because falling back
/// from an unknown code to its rate could file it under the wrong detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxCodeMap {
    by_code: BTreeMap<String, String>,
    by_rate: HashMap<TaxRate, String>,
}

impl TaxCodeMap {
    /// Build from lookup entries: a key ending in `%` (`"7.25%"`) is a rate,
    /// any other key a tax code.
    pub fn from_entries<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> Result<Self, TaxError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut map = Self::default();
        for (key, detail) in entries {
            let key = key.as_ref().trim();
            match key.strip_suffix('%') {
                Some(percent) => {
                    let percent = Decimal::from_str(percent.trim()).map_err(|_| {
                        TaxError::UnreadableRate {
                            value: key.to_owned(),
                        }
                    })?;
                    map.insert_rate(TaxRate::from_percent(percent)?, detail.as_ref())?;
                }
                None => map.insert_code(key, detail.as_ref())?,
            }
        }
        Ok(map)
    }

    pub fn insert_code(&mut self, code: &str, detail_id: &str) -> Result<(), TaxError> {
        let key = code.trim().to_uppercase();
        check_conflict(self.by_code.get(&key), &key, detail_id)?;
        self.by_code.insert(key, detail_id.to_owned());
        Ok(())
    }

    pub fn insert_rate(&mut self, rate: TaxRate, detail_id: &str) -> Result<(), TaxError> {
        check_conflict(self.by_rate.get(&rate), &rate.to_string(), detail_id)?;
        self.by_rate.insert(rate, detail_id.to_owned());
        Ok(())
    }

    /// The ERP tax detail for a line's tax code, or for its rate when it has
    /// no code.
    pub fn resolve(&self, code: Option<&str>, rate: Option<TaxRate>) -> Result<&str, TaxError> {
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        let found = match (code, rate) {
            (Some(code), _) => self.by_code.get(&code.to_uppercase()),
            (None, Some(rate)) => self.by_rate.get(&rate),
            (None, None) => None,
        };
        found.map(String::as_str).ok_or_else(|| TaxError::Unmapped {
            code: code.map(str::to_owned),
            rate,
            known: self.known(),
        })
    }

    /// Every mapped key, codes then rates, for error messages.
    fn known(&self) -> Vec<String> {
        let mut rates: Vec<_> = self.by_rate.keys().copied().collect();
        rates.sort_by_key(TaxRate::fraction);
        self.by_code
            .keys()
            .cloned()
            .chain(rates.iter().map(TaxRate::to_string))
            .collect()
    }
}

/// A key given twice is fine only with the same detail; otherwise the
/// mapping would depend on entry order.
fn check_conflict(existing: Option<&String>, key: &str, detail_id: &str) -> Result<(), TaxError> {
    match existing {
        Some(first) if first != detail_id => Err(TaxError::ConflictingMapping {
            key: key.to_owned(),
            first: first.clone(),
            second: detail_id.to_owned(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn pct(s: &str) -> TaxRate {
        TaxRate::from_percent(d(s)).unwrap()
    }

    fn line(price: &str, qty: &str, rate: &str, mode: TaxMode) -> (Decimal, Decimal, Decimal) {
        let l = normalize_line(d(price), d(qty), pct(rate), mode).unwrap();
        assert_eq!(l.net + l.tax, l.gross);
        (l.net, l.tax, l.gross)
    }

    #[test]
    fn inclusive_prices_split_to_the_cent_keeping_the_gross() {
        // 19.99 × 20/120 = 3.3316… → 3.33
        assert_eq!(
            line("19.99", "1", "20", TaxMode::Inclusive),
            (d("16.66"), d("3.33"), d("19.99"))
        );
        // 59.97 × 20/120 = 9.995 → 10.00 (half away from zero); net 49.97.
        assert_eq!(
            line("19.99", "3", "20", TaxMode::Inclusive),
            (d("49.97"), d("10.00"), d("59.97"))
        );
        // 9.99 × 7.7/107.7 = 0.71423… → 0.71
        assert_eq!(
            line("9.99", "1", "7.7", TaxMode::Inclusive),
            (d("9.28"), d("0.71"), d("9.99"))
        );
    }

    #[test]
    fn exclusive_prices_add_tax_to_the_cent_keeping_the_net() {
        // 19.99 × 8.875 % = 1.7741… → 1.77
        assert_eq!(
            line("19.99", "1", "8.875", TaxMode::Exclusive),
            (d("19.99"), d("1.77"), d("21.76"))
        );
        // 0.10 × 5 % = 0.005 → 0.01 (half away from zero)
        assert_eq!(
            line("0.10", "1", "5", TaxMode::Exclusive),
            (d("0.10"), d("0.01"), d("0.11"))
        );
    }

    #[test]
    fn rounding_is_per_line_not_per_unit_and_refunds_round_symmetrically() {
        // Rounding each unit (0.33) first would give 0.99; the line is 1.00.
        assert_eq!(
            line("0.3333", "3", "0", TaxMode::Exclusive),
            (d("1.00"), d("0"), d("1.00"))
        );
        assert_eq!(
            line("19.99", "-1", "20", TaxMode::Inclusive),
            (d("-16.66"), d("-3.33"), d("-19.99"))
        );
    }

    #[test]
    fn rates_outside_zero_to_a_hundred_percent_are_refused() {
        assert_eq!(
            TaxRate::from_percent(d("-5")),
            Err(TaxError::InvalidRate { rate: d("-5") })
        );
        assert!(TaxRate::from_percent(d("100.5")).is_err());
        assert_eq!(pct("20").fraction(), d("0.2"));
        assert_eq!(pct("7.250").to_string(), "7.25%");
    }

    #[test]
    fn order_tax_is_allocated_by_net_and_sums_exactly() {
        let nets = [d("10.00"), d("10.00"), d("10.00")];
        let parts = allocate_order_tax(d("1.00"), &nets).unwrap();
        assert_eq!(parts, [d("0.33"), d("0.33"), d("0.34")]);

        let nets = [d("19.99"), d("5.01"), d("0.37"), d("104.50"), d("7.13")];
        let tax = d("11.07");
        let parts = allocate_order_tax(tax, &nets).unwrap();
        assert_eq!(parts.iter().copied().sum::<Decimal>(), tax);
        assert!(parts.iter().all(|p| has_at_most_cents(*p)));
        // 11.07 × 104.50 / 137.00 = 8.4438… → 8.44
        assert_eq!(parts[3], d("8.44"));
    }

    #[test]
    fn order_tax_over_zero_value_lines_is_split_evenly_and_sub_cent_tax_refused() {
        let parts = allocate_order_tax(d("0.10"), &[Decimal::ZERO, Decimal::ZERO]).unwrap();
        assert_eq!(parts, [d("0.05"), d("0.05")]);
        assert_eq!(
            allocate_order_tax(d("1.005"), &[d("1")]),
            Err(TaxError::NotCents {
                field: "orderTax",
                value: d("1.005")
            })
        );
    }

    #[test]
    fn tax_codes_map_to_erp_details_by_code_then_by_rate() {
        let map = TaxCodeMap::from_entries([
            ("VAT20", "UK Sale Goods Standard Rate"),
            ("exempt", "Exempt"),
            ("7.25%", "CA-STATE"),
        ])
        .unwrap();
        assert_eq!(
            map.resolve(Some(" vat20 "), None).unwrap(),
            "UK Sale Goods Standard Rate"
        );
        assert_eq!(
            map.resolve(Some("EXEMPT"), Some(pct("0"))).unwrap(),
            "Exempt"
        );
        assert_eq!(map.resolve(None, Some(pct("7.250"))).unwrap(), "CA-STATE");
        assert_eq!(
            map.resolve(Some(""), Some(pct("7.25"))).unwrap(),
            "CA-STATE"
        );
    }

    #[test]
    fn an_unmapped_code_is_an_error_naming_it_and_what_is_mapped() {
        let map = TaxCodeMap::from_entries([("VAT20", "STD"), ("5%", "RED")]).unwrap();
        // A known rate does not rescue an unknown code.
        let err = map.resolve(Some("VAT5"), Some(pct("5"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tax code \"VAT5\" is not mapped to an ERP tax detail (mapped: VAT20, 5%)"
        );
        let err = map.resolve(None, Some(pct("12"))).unwrap_err();
        assert!(err.to_string().starts_with("tax rate 12%"), "{err}");
        assert!(matches!(
            map.resolve(None, None),
            Err(TaxError::Unmapped {
                code: None,
                rate: None,
                ..
            })
        ));
    }

    #[test]
    fn conflicting_or_unreadable_entries_are_refused() {
        assert_eq!(
            TaxCodeMap::from_entries([("VAT20", "A"), ("vat20", "B")]),
            Err(TaxError::ConflictingMapping {
                key: "VAT20".into(),
                first: "A".into(),
                second: "B".into()
            })
        );
        assert!(matches!(
            TaxCodeMap::from_entries([("20%", "A"), ("20.0%", "B")]),
            Err(TaxError::ConflictingMapping { .. })
        ));
        assert!(TaxCodeMap::from_entries([("VAT20", "A"), ("vat20", "A")]).is_ok());
        assert_eq!(
            TaxCodeMap::from_entries([("twenty%", "A")]),
            Err(TaxError::UnreadableRate {
                value: "twenty%".into()
            })
        );
    }
}
