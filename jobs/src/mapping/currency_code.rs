//! An ISO 4217 currency code, checked once where it enters: the rates
//! table, the currency conversion and the anomaly checks all take
//! [`CurrencyCode`], never a bare string. It knows each code's minor units
//! (cents: 2, yen: 0, dinar: 3), which is how amounts are rounded.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that does not parse: which field, and why.
///
/// `field` is a path in the record the value came from (`lineItems[2].sku`)
/// when the caller knows it, otherwise the name of the value (`sku`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CodeError {
    field: String,
    reason: String,
}

impl CodeError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same reason, reported at `field`: a parser knows only that it read
    /// a SKU, its caller knows it was `lineItems[2].sku`.
    pub fn at(self, field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: self.reason,
        }
    }
}

/// The value as it appears in a reason, cut short so a megabyte of garbage
/// does not end up in a dead letter.
fn shown(raw: &str) -> String {
    const MAX: usize = 48;
    let mut out: String = raw.chars().take(MAX).collect();
    if raw.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

/// One row of the currency table: the code and its number of minor-unit
/// digits (cents: 2).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Currency {
    code: &'static str,
    minor_units: u32,
}

const fn c(code: &'static str, minor_units: u32) -> Currency {
    Currency { code, minor_units }
}

/// ISO 4217 List One, the active codes as amended to 2025 (XCG replaced ANG,
/// ZWG replaced ZWL, SLE replaced SLL), with their minor units. Left out: the
/// precious metals, the testing and "no currency" codes, bond-market units
/// and XDR/XSU/XUA, which have no minor unit and no place on an invoice.
/// Sorted by code: looked up by binary search, and a test keeps it sorted.
static CURRENCIES: &[Currency] = &[
    c("AED", 2),
    c("AFN", 2),
    c("ALL", 2),
    c("AMD", 2),
    c("AOA", 2),
    c("ARS", 2),
    c("AUD", 2),
    c("AWG", 2),
    c("AZN", 2),
    c("BAM", 2),
    c("BBD", 2),
    c("BDT", 2),
    c("BGN", 2),
    c("BHD", 3),
    c("BIF", 0),
    c("BMD", 2),
    c("BND", 2),
    c("BOB", 2),
    c("BOV", 2),
    c("BRL", 2),
    c("BSD", 2),
    c("BTN", 2),
    c("BWP", 2),
    c("BYN", 2),
    c("BZD", 2),
    c("CAD", 2),
    c("CDF", 2),
    c("CHE", 2),
    c("CHF", 2),
    c("CHW", 2),
    c("CLF", 4),
    c("CLP", 0),
    c("CNY", 2),
    c("COP", 2),
    c("COU", 2),
    c("CRC", 2),
    c("CUP", 2),
    c("CVE", 2),
    c("CZK", 2),
    c("DJF", 0),
    c("DKK", 2),
    c("DOP", 2),
    c("DZD", 2),
    c("EGP", 2),
    c("ERN", 2),
    c("ETB", 2),
    c("EUR", 2),
    c("FJD", 2),
    c("FKP", 2),
    c("GBP", 2),
    c("GEL", 2),
    c("GHS", 2),
    c("GIP", 2),
    c("GMD", 2),
    c("GNF", 0),
    c("GTQ", 2),
    c("GYD", 2),
    c("HKD", 2),
    c("HNL", 2),
    c("HTG", 2),
    c("HUF", 2),
    c("IDR", 2),
    c("ILS", 2),
    c("INR", 2),
    c("IQD", 3),
    c("IRR", 2),
    c("ISK", 0),
    c("JMD", 2),
    c("JOD", 3),
    c("JPY", 0),
    c("KES", 2),
    c("KGS", 2),
    c("KHR", 2),
    c("KMF", 0),
    c("KPW", 2),
    c("KRW", 0),
    c("KWD", 3),
    c("KYD", 2),
    c("KZT", 2),
    c("LAK", 2),
    c("LBP", 2),
    c("LKR", 2),
    c("LRD", 2),
    c("LSL", 2),
    c("LYD", 3),
    c("MAD", 2),
    c("MDL", 2),
    c("MGA", 2),
    c("MKD", 2),
    c("MMK", 2),
    c("MNT", 2),
    c("MOP", 2),
    c("MRU", 2),
    c("MUR", 2),
    c("MVR", 2),
    c("MWK", 2),
    c("MXN", 2),
    c("MXV", 2),
    c("MYR", 2),
    c("MZN", 2),
    c("NAD", 2),
    c("NGN", 2),
    c("NIO", 2),
    c("NOK", 2),
    c("NPR", 2),
    c("NZD", 2),
    c("OMR", 3),
    c("PAB", 2),
    c("PEN", 2),
    c("PGK", 2),
    c("PHP", 2),
    c("PKR", 2),
    c("PLN", 2),
    c("PYG", 0),
    c("QAR", 2),
    c("RON", 2),
    c("RSD", 2),
    c("RUB", 2),
    c("RWF", 0),
    c("SAR", 2),
    c("SBD", 2),
    c("SCR", 2),
    c("SDG", 2),
    c("SEK", 2),
    c("SGD", 2),
    c("SHP", 2),
    c("SLE", 2),
    c("SOS", 2),
    c("SRD", 2),
    c("SSP", 2),
    c("STN", 2),
    c("SVC", 2),
    c("SYP", 2),
    c("SZL", 2),
    c("THB", 2),
    c("TJS", 2),
    c("TMT", 2),
    c("TND", 3),
    c("TOP", 2),
    c("TRY", 2),
    c("TTD", 2),
    c("TWD", 2),
    c("TZS", 2),
    c("UAH", 2),
    c("UGX", 0),
    c("USD", 2),
    c("USN", 2),
    c("UYI", 0),
    c("UYU", 2),
    c("UYW", 4),
    c("UZS", 2),
    c("VED", 2),
    c("VES", 2),
    c("VND", 0),
    c("VUV", 0),
    c("WST", 2),
    c("XAF", 0),
    c("XCD", 2),
    c("XCG", 2),
    c("XOF", 0),
    c("XPF", 0),
    c("YER", 2),
    c("ZAR", 2),
    c("ZMW", 2),
    c("ZWG", 2),
];

/// An active ISO 4217 alphabetic currency code, upper case (`usd` → `USD`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode(&'static Currency);

impl CurrencyCode {
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let err = |reason| CodeError::new("currency", reason);
        let text = raw.trim();
        if text.len() != 3 || !text.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(err(format!(
                "{} is not a three-letter ISO 4217 code",
                shown(text)
            )));
        }
        let code = text.to_ascii_uppercase();
        CURRENCIES
            .binary_search_by(|row| row.code.cmp(code.as_str()))
            .map(|i| Self(&CURRENCIES[i]))
            .map_err(|_| {
                err(format!(
                    "{} is not an active ISO 4217 currency code",
                    shown(&code)
                ))
            })
    }

    pub fn as_str(&self) -> &'static str {
        self.0.code
    }

    /// Digits after the decimal point in this currency's smallest unit:
    /// 2 for USD, 0 for JPY, 3 for KWD.
    pub fn minor_units(&self) -> u32 {
        self.0.minor_units
    }

    /// Round `amount` to this currency's minor unit, half away from zero
    /// (0.125 USD → 0.13, -0.125 USD → -0.13), the rule most ERPs and card
    /// processors apply to converted amounts.
    pub fn round(&self, amount: rust_decimal::Decimal) -> rust_decimal::Decimal {
        amount.round_dp_with_strategy(
            self.minor_units(),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        )
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurrencyCode({})", self.0.code)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl AsRef<str> for CurrencyCode {
    fn as_ref(&self) -> &str {
        self.0.code
    }
}

impl FromStr for CurrencyCode {
    type Err = CodeError;
    fn from_str(raw: &str) -> Result<Self, CodeError> {
        Self::parse(raw)
    }
}

impl TryFrom<&str> for CurrencyCode {
    type Error = CodeError;
    fn try_from(raw: &str) -> Result<Self, CodeError> {
        Self::parse(raw)
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.code)
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_currency_code_is_upper_cased_and_must_be_active() {
        assert_eq!(CurrencyCode::parse(" eur ").unwrap().as_str(), "EUR");
        assert_eq!(CurrencyCode::try_from("jpy").unwrap().to_string(), "JPY");
        for (raw, why) in [
            ("US", "not a three-letter"),
            ("US$", "not a three-letter"),
            ("ÜSD", "not a three-letter"),
            ("XYZ", "not an active ISO 4217"),
            ("DEM", "not an active ISO 4217"),
            ("HRK", "not an active ISO 4217"),
            ("XAU", "not an active ISO 4217"),
        ] {
            let e = CurrencyCode::parse(raw).unwrap_err();
            assert_eq!(e.field(), "currency", "{raw}");
            assert!(e.reason().contains(why), "{raw}: {e}");
        }
        let e = serde_json::from_str::<CurrencyCode>(r#""ABC""#).unwrap_err();
        assert!(
            e.to_string().contains("currency: \"ABC\" is not an active"),
            "{e}"
        );
    }

    #[test]
    fn the_currency_table_is_sorted_unique_and_three_upper_case_letters() {
        for pair in CURRENCIES.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        for row in CURRENCIES {
            assert!(row.code.len() == 3 && row.code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(row.minor_units <= 4, "{}", row.code);
        }
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        for (code, places) in [
            ("USD", 2),
            ("EUR", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
            ("CLF", 4),
        ] {
            assert_eq!(
                CurrencyCode::parse(code).unwrap().minor_units(),
                places,
                "{code}"
            );
        }
    }
}
