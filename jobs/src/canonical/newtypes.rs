//! Identifiers and amounts that are checked once, where they enter, so the
//! rest of the data plane can trust them: [`Sku`], [`CurrencyCode`],
//! [`Money`], [`GlAccount`] and [`DimensionId`].
//!
//! Each one has no public field and is built only through its parser
//! (`parse`, `FromStr`, `TryFrom<&str>`, or serde, which calls the same
//! parser), so a refused value names the field and says what is wrong with it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value of the canonical model that does not parse: which field, and why.
///
/// `field` is a path in the record the value came from (`lineItems[2].sku`)
/// when the caller knows it, otherwise the name of the value (`sku`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CanonicalError {
    field: String,
    reason: String,
}

impl CanonicalError {
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

/// Characters that print nothing yet make two identifiers differ: soft
/// hyphen, zero-width and joiner characters, bidirectional controls, the BOM.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

/// Trimmed, non-empty, at most `max` characters, no control character.
fn checked_text(raw: &str, max: usize) -> Result<&str, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let len = text.chars().count();
    if len > max {
        return Err(format!(
            "{} is {len} characters long, at most {max} are allowed",
            shown(text)
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{} contains the control character U+{:04X}",
            shown(text),
            c as u32
        ));
    }
    Ok(text)
}

/// The conversions every text identifier shares: `FromStr`, `TryFrom`,
/// `Display`, and serde as a plain string read back through `parse`.
macro_rules! text_identifier {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = CanonicalError;
            fn from_str(raw: &str) -> Result<Self, CanonicalError> {
                Self::parse(raw)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = CanonicalError;
            fn try_from(raw: &str) -> Result<Self, CanonicalError> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = CanonicalError;
            fn try_from(raw: String) -> Result<Self, CanonicalError> {
                Self::parse(&raw)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(D::Error::custom)
            }
        }
    };
}

/// A stock-keeping unit as the store and the ERP item catalog spell it.
///
/// SKUs are matched exactly against lookup tables and item ids, so anything
/// that would make two visually equal SKUs differ is refused: surrounding
/// whitespace is trimmed, and control characters, invisible characters and
/// whitespace other than a plain space are errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, CanonicalError> {
        let err = |reason| CanonicalError::new("sku", reason);
        let text = checked_text(raw, Self::MAX_LEN).map_err(err)?;
        if let Some(c) = text
            .chars()
            .find(|&c| is_invisible(c) || (c.is_whitespace() && c != ' '))
        {
            return Err(err(format!(
                "{} contains the non-printing character U+{:04X}",
                shown(text),
                c as u32
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

text_identifier!(Sku);

/// A general-ledger account number as Sage Intacct and Sage Pro write it:
/// digits, optionally in segments separated by `.` or `-` (`4000`,
/// `4000.100`, `1200-01-100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlAccount(String);

impl GlAccount {
    pub const MAX_LEN: usize = 24;

    pub fn parse(raw: &str) -> Result<Self, CanonicalError> {
        let err = |reason| CanonicalError::new("glAccount", reason);
        let text = checked_text(raw, Self::MAX_LEN).map_err(err)?;
        if let Some(c) = text
            .chars()
            .find(|c| !c.is_ascii_digit() && *c != '.' && *c != '-')
        {
            return Err(err(format!(
                "{} contains {c:?}; an account number has only digits and `.` or `-` between segments",
                shown(text)
            )));
        }
        if text.split(['.', '-']).any(str::is_empty) {
            return Err(err(format!(
                "{} has an empty segment; `.` and `-` go only between digits",
                shown(text)
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

text_identifier!(GlAccount);

/// The id of an ERP dimension value: an Intacct location, department, class
/// or project, or a Sage Pro company or cost centre.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionId(String);

impl DimensionId {
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, CanonicalError> {
        checked_text(raw, Self::MAX_LEN)
            .map(|text| Self(text.to_owned()))
            .map_err(|reason| CanonicalError::new("dimensionId", reason))
    }
}

text_identifier!(DimensionId);

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
    pub fn parse(raw: &str) -> Result<Self, CanonicalError> {
        let err = |reason| CanonicalError::new("currency", reason);
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
    type Err = CanonicalError;
    fn from_str(raw: &str) -> Result<Self, CanonicalError> {
        Self::parse(raw)
    }
}

impl TryFrom<&str> for CurrencyCode {
    type Error = CanonicalError;
    fn try_from(raw: &str) -> Result<Self, CanonicalError> {
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

/// An amount in one currency, held to exactly that currency's minor unit
/// (`5` USD is kept as `5.00`, `1000` JPY as `1000`).
///
/// [`Money::new`] refuses an amount with more significant decimals than the
/// currency has (`19.999` USD, `100.5` JPY): that is a value the ERP would
/// round on its own, so totals would stop adding up. Trailing zeros are not
/// precision (`19.990` USD is `19.99`). Where a product of quantity and
/// price must be brought to the minor unit, [`Money::rounded`] rounds half
/// away from zero, as Clarity and both ERPs do.
///
/// Serialized as `{"amount": "19.99", "currency": "USD"}`, the amount a
/// decimal string so no JSON reader turns it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: CurrencyCode,
}

impl Money {
    pub fn new(amount: Decimal, currency: CurrencyCode) -> Result<Self, CanonicalError> {
        let places = currency.minor_units();
        if amount.normalize().scale() > places {
            return Err(CanonicalError::new(
                "amount",
                format!(
                    "{amount} has more decimals than {currency} allows: {}",
                    match places {
                        0 => "whole units only".to_owned(),
                        n => format!("{n} decimal places"),
                    }
                ),
            ));
        }
        Ok(Self::exact(amount, currency))
    }

    /// `amount` rounded half away from zero to the currency's minor unit.
    pub fn rounded(amount: Decimal, currency: CurrencyCode) -> Self {
        let places = currency.minor_units();
        Self::exact(
            amount.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero),
            currency,
        )
    }

    pub fn zero(currency: CurrencyCode) -> Self {
        Self::exact(Decimal::ZERO, currency)
    }

    /// Only for an amount already at most `currency.minor_units()` places.
    fn exact(mut amount: Decimal, currency: CurrencyCode) -> Self {
        amount.rescale(currency.minor_units());
        Self { amount, currency }
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> CurrencyCode {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// `self + other`; refused when the currencies differ or the sum leaves
    /// the range of a decimal.
    pub fn checked_add(self, other: Money) -> Result<Money, CanonicalError> {
        let other = self.same_currency(other)?;
        self.amount
            .checked_add(other)
            .map(|sum| Self::exact(sum, self.currency))
            .ok_or_else(|| CanonicalError::new("amount", "the sum is out of range"))
    }

    /// `self - other`; refused when the currencies differ or the difference
    /// leaves the range of a decimal.
    pub fn checked_sub(self, other: Money) -> Result<Money, CanonicalError> {
        let other = self.same_currency(other)?;
        self.amount
            .checked_sub(other)
            .map(|diff| Self::exact(diff, self.currency))
            .ok_or_else(|| CanonicalError::new("amount", "the difference is out of range"))
    }

    fn same_currency(&self, other: Money) -> Result<Decimal, CanonicalError> {
        if other.currency == self.currency {
            Ok(other.amount)
        } else {
            Err(CanonicalError::new(
                "currency",
                format!(
                    "{} cannot be combined with an amount in {}",
                    other.currency, self.currency
                ),
            ))
        }
    }
}

impl fmt::Display for Money {
    /// `19.99 USD`, the form [`Money::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl FromStr for Money {
    type Err = CanonicalError;

    /// `"19.99 USD"`: a plain decimal (no exponent), one space, a currency code.
    fn from_str(raw: &str) -> Result<Self, CanonicalError> {
        let mut parts = raw.split_whitespace();
        let (Some(amount), Some(currency), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CanonicalError::new(
                "money",
                format!(
                    "{} is not an amount and a currency code, like \"19.99 USD\"",
                    shown(raw)
                ),
            ));
        };
        let amount = Decimal::from_str_exact(amount).map_err(|_| {
            CanonicalError::new(
                "amount",
                format!("{} is not a decimal number", shown(amount)),
            )
        })?;
        Money::new(amount, CurrencyCode::parse(currency)?)
    }
}

impl TryFrom<&str> for Money {
    type Error = CanonicalError;
    fn try_from(raw: &str) -> Result<Self, CanonicalError> {
        raw.parse()
    }
}

#[derive(Serialize, Deserialize)]
struct MoneyFields {
    amount: Decimal,
    currency: CurrencyCode,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyFields {
            amount: self.amount,
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = MoneyFields::deserialize(d)?;
        Money::new(raw.amount, raw.currency).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn a_sku_is_trimmed_and_keeps_inner_spaces() {
        assert_eq!(Sku::parse("  SKU-1001 ").unwrap().as_str(), "SKU-1001");
        assert_eq!(Sku::parse("WIDGET 10 MM").unwrap().as_str(), "WIDGET 10 MM");
        assert_eq!(Sku::parse(&"A".repeat(64)).unwrap().as_str().len(), 64);
        assert_eq!("Ünïcode-Σ".parse::<Sku>().unwrap().as_str(), "Ünïcode-Σ");
    }

    #[test]
    fn a_sku_that_is_empty_too_long_or_not_printable_is_refused_naming_sku() {
        for (raw, why) in [
            ("", "is empty"),
            ("   ", "is empty"),
            (&*"A".repeat(65), "65 characters long, at most 64"),
            ("SKU\u{7}1", "control character U+0007"),
            ("SKU\t1", "control character U+0009"),
            ("SKU\u{200B}1", "non-printing character U+200B"),
            ("SKU\u{A0}1", "non-printing character U+00A0"),
            ("\u{FEFF}SKU-1", "non-printing character U+FEFF"),
        ] {
            let e = Sku::parse(raw).unwrap_err();
            assert_eq!(e.field(), "sku", "{raw:?}");
            assert!(e.reason().contains(why), "{raw:?}: {e}");
        }
    }

    #[test]
    fn a_sku_deserializes_through_its_parser() {
        let sku: Sku = serde_json::from_str(r#"" SKU-1 ""#).unwrap();
        assert_eq!(serde_json::to_string(&sku).unwrap(), r#""SKU-1""#);
        let e = serde_json::from_str::<Sku>(r#""""#).unwrap_err();
        assert!(e.to_string().starts_with("sku: is empty"), "{e}");
    }

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

    #[test]
    fn money_is_held_at_the_currencys_scale() {
        let m = Money::new(dec("5"), usd()).unwrap();
        assert_eq!(m.amount().to_string(), "5.00");
        assert_eq!(
            Money::new(dec("19.990"), usd()).unwrap().to_string(),
            "19.99 USD"
        );
        let jpy = CurrencyCode::parse("JPY").unwrap();
        assert_eq!(
            Money::new(dec("1500.00"), jpy).unwrap().to_string(),
            "1500 JPY"
        );
        let kwd = CurrencyCode::parse("KWD").unwrap();
        assert_eq!(
            Money::new(dec("1.5"), kwd).unwrap().to_string(),
            "1.500 KWD"
        );
        assert_eq!(
            Money::new(dec("1.234"), kwd).unwrap().amount(),
            dec("1.234")
        );
    }

    #[test]
    fn money_with_more_decimals_than_its_currency_is_refused_naming_amount() {
        for (amount, code, why) in [
            ("19.999", "USD", "USD allows: 2 decimal places"),
            ("100.5", "JPY", "JPY allows: whole units only"),
            ("1.2345", "BHD", "BHD allows: 3 decimal places"),
        ] {
            let currency = CurrencyCode::parse(code).unwrap();
            let e = Money::new(dec(amount), currency).unwrap_err();
            assert_eq!(e.field(), "amount");
            assert!(e.reason().contains(why), "{e}");
        }
    }

    #[test]
    fn money_rounds_half_away_from_zero_to_the_minor_unit() {
        assert_eq!(Money::rounded(dec("3.7375"), usd()).amount(), dec("3.74"));
        assert_eq!(Money::rounded(dec("0.005"), usd()).amount(), dec("0.01"));
        assert_eq!(Money::rounded(dec("-0.005"), usd()).amount(), dec("-0.01"));
        assert_eq!(Money::rounded(dec("0.0049"), usd()).amount(), dec("0.00"));
        let jpy = CurrencyCode::parse("JPY").unwrap();
        assert_eq!(Money::rounded(dec("2.5"), jpy).amount(), dec("3"));
        let kwd = CurrencyCode::parse("KWD").unwrap();
        assert_eq!(Money::rounded(dec("1.2345"), kwd).amount(), dec("1.235"));
    }

    #[test]
    fn money_adds_only_within_one_currency() {
        let a = Money::new(dec("19.99"), usd()).unwrap();
        let b = Money::new(dec("0.01"), usd()).unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "20.00 USD");
        assert_eq!(b.checked_sub(a).unwrap().to_string(), "-19.98 USD");
        let eur = Money::new(dec("1"), CurrencyCode::parse("EUR").unwrap()).unwrap();
        let e = a.checked_add(eur).unwrap_err();
        assert_eq!(e.field(), "currency");
        assert!(
            e.reason()
                .contains("EUR cannot be combined with an amount in USD")
        );
    }

    #[test]
    fn money_parses_from_text_and_json_through_new() {
        assert_eq!(
            "19.99 usd".parse::<Money>().unwrap().to_string(),
            "19.99 USD"
        );
        assert_eq!(Money::try_from("-3 EUR").unwrap().amount(), dec("-3.00"));
        assert_eq!("19.99".parse::<Money>().unwrap_err().field(), "money");
        assert_eq!("1e3 USD".parse::<Money>().unwrap_err().field(), "amount");
        assert_eq!("1.00 XXX".parse::<Money>().unwrap_err().field(), "currency");

        let json = r#"{"amount":"5","currency":"JPY"}"#;
        let m: Money = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({"amount": "5", "currency": "JPY"})
        );
        let cents = Money::new(dec("5"), usd()).unwrap();
        assert_eq!(serde_json::to_value(cents).unwrap()["amount"], "5.00");
        let e = serde_json::from_str::<Money>(r#"{"amount":"0.5","currency":"JPY"}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("amount: 0.5 has more decimals than JPY"),
            "{e}"
        );
    }

    #[test]
    fn a_gl_account_is_digits_in_dot_or_dash_segments() {
        for ok in ["4000", "4000.100", "1200-01-100", " 12.3-4 "] {
            assert_eq!(GlAccount::parse(ok).unwrap().as_str(), ok.trim());
        }
        for (raw, why) in [
            ("", "is empty"),
            ("40A0", "contains 'A'"),
            ("4000 100", "contains ' '"),
            ("4000-", "empty segment"),
            (".4000", "empty segment"),
            ("40..00", "empty segment"),
            (&*"1".repeat(25), "at most 24"),
        ] {
            let e = GlAccount::parse(raw).unwrap_err();
            assert_eq!(e.field(), "glAccount", "{raw:?}");
            assert!(e.reason().contains(why), "{raw:?}: {e}");
        }
        let e = serde_json::from_str::<GlAccount>(r#""1200-""#).unwrap_err();
        assert!(e.to_string().starts_with("glAccount:"), "{e}");
    }

    #[test]
    fn a_dimension_id_is_trimmed_non_empty_and_short() {
        assert_eq!(DimensionId::parse(" WEST-DC ").unwrap().as_str(), "WEST-DC");
        assert_eq!(
            DimensionId::parse("Dept 100 / Retail").unwrap().to_string(),
            "Dept 100 / Retail"
        );
        for (raw, why) in [
            ("", "is empty"),
            (&*"D".repeat(41), "at most 40"),
            ("LOC\n1", "control character U+000A"),
        ] {
            let e = DimensionId::parse(raw).unwrap_err();
            assert_eq!(e.field(), "dimensionId", "{raw:?}");
            assert!(e.reason().contains(why), "{raw:?}: {e}");
        }
    }

    #[test]
    fn a_long_bad_value_is_cut_short_in_the_reason() {
        let e = Sku::parse(&"X".repeat(10_000)).unwrap_err();
        assert!(e.reason().len() < 120, "{e}");
        assert!(e.reason().contains('…'));
    }

    #[test]
    fn an_error_can_be_moved_to_the_field_it_came_from() {
        let e = Sku::parse("").unwrap_err().at("lineItems[2].sku");
        assert_eq!(e.to_string(), "lineItems[2].sku: is empty");
    }
}
