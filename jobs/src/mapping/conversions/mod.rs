//! The conversions a template may apply to the source record before its
//! rules, and the glue that applies them ([`Conversions`]). The domain work
//! itself (what a standard address is, how a rate is picked, how a SKU is
//! matched) is in the sibling modules [`super::address`], [`super::tax`],
//! [`super::currency`] and [`super::sku`]; each file here holds one
//! conversion's document type, its compiled form, and the code that checks
//! it when the template is saved and applies it to a record.
//!
//! A template document may hold a `conversions` object. Each conversion is
//! optional; they are applied to the SOURCE record (copy-on-write), before the
//! rules, in this order, so the rules read standardized, tax-exclusive,
//! base-currency amounts and ERP item ids:
//!
//! ```json
//! "conversions": {
//!   "address":  { "paths": ["billingAddress", "shippingAddress"], "max_line": 30, "max_lines": 2 },
//!   "tax":      { "prices_setting": "tax_prices" },
//!   "currency": { "to_setting": "base_currency", "from": "currency", "date": "orderDate",
//!                 "amounts": ["subtotalAmount", "discountAmount", "shippingAmount", "taxAmount",
//!                             "totalAmount", "lineItems[].unitPrice", "lineItems[].tax",
//!                             "lineItems[].discount", "lineItems[].lineTotal"],
//!                 "balance": true, "store_as": "exchange" },
//!   "sku":      { "path": "lineItems[].sku", "name": "lineItems[].name", "table": "skus", "threshold": 0.85 }
//! }
//! ```
//!
//! Paths are dot paths of object keys; `[]` after a key visits every element
//! of that array (`lineItems[].sku`, [`field_path`]). An absent or null value
//! is skipped. Unknown keys, unknown settings or lookup tables and malformed
//! paths are refused when the template is saved, naming the key
//! (`conversions.sku.treshold`).
//!
//! - `address` ([`address`]): addresses standardized in place.
//! - `tax` ([`tax`]): tax-inclusive prices made exclusive, tax codes mapped
//!   to the ERP's tax details.
//! - `currency` ([`currency`]): amounts converted to the base currency at
//!   the tenant's rate, the order balanced again.
//! - `sku` ([`sku`]): source SKUs resolved to ERP item ids.
//!
//! A template with no `conversions` maps the source record as it is. With
//! them, nothing is copied but the top-level values a conversion rewrites
//! (`lineItems` when a SKU changes, an address that was not standard yet):
//! the rules read those in place of the source's ([`overlay`]).

pub mod address;
pub mod currency;
pub mod field_path;
pub mod overlay;
pub mod sku;
pub mod tax;
#[cfg(test)]
pub(crate) mod testing;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::{Map, Value};

use self::address::AddressConv;
use self::currency::CurrencyConv;
use self::field_path::FieldPath;
pub(crate) use self::overlay::{Overlay, Stage};
use self::sku::SkuConv;
use self::tax::TaxConv;
use super::TemplateError;
use super::currency::CurrencyCode;
use super::money;
use super::pipeline::MappingInputs;

/// A template's conversions, checked when the template compiles.
#[derive(Debug, Clone, Default)]
pub struct Conversions {
    address: Option<AddressConv>,
    tax: Option<TaxConv>,
    currency: Option<CurrencyConv>,
    sku: Option<SkuConv>,
}

/// The order fields that `tax` and the currency `balance` read and
/// rewrite: Clarity's names unless the template says.
#[derive(Debug, Clone)]
struct OrderNames {
    lines: FieldPath,
    quantity: FieldPath,
    unit_price: FieldPath,
    discount: FieldPath,
    line_total: FieldPath,
    subtotal: FieldPath,
    currency: FieldPath,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionsDoc {
    address: Option<Value>,
    tax: Option<Value>,
    currency: Option<Value>,
    sku: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NamesDoc {
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
}

/// Compile-time errors name the conversion key (`conversions.tax.prices`).
fn conv_error(key: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        key: None,
        rule: 0,
        target: format!("conversions.{key}"),
        message: message.into(),
    }
}

/// serde's "unknown field `x`, expected one of …" names the key; put it in
/// the target too, so the error points at it.
fn parse_doc<T: for<'de> Deserialize<'de>>(key: &str, doc: &Value) -> Result<T, TemplateError> {
    T::deserialize(doc).map_err(|e| {
        let text = e.to_string();
        let target = text
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| format!("{key}.{name}"))
            .unwrap_or_else(|| key.to_owned());
        conv_error(&target, text)
    })
}

fn path_of(key: &str, text: Option<&str>, default: &str) -> Result<FieldPath, TemplateError> {
    FieldPath::parse(text.unwrap_or(default)).map_err(|m| conv_error(key, m))
}

/// A path that names one value in a line (no `[]`).
fn plain_path(key: &str, text: Option<&str>, default: &str) -> Result<FieldPath, TemplateError> {
    let p = path_of(key, text, default)?;
    if p.has_each() {
        return Err(conv_error(
            key,
            format!("`{}` must be a plain path, without `[]`", p.text),
        ));
    }
    Ok(p)
}

impl OrderNames {
    fn compile(key: &str, doc: &NamesDoc) -> Result<Self, TemplateError> {
        let k = |name: &str| format!("{key}.{name}");
        Ok(Self {
            lines: plain_path(&k("lines"), doc.lines.as_deref(), "lineItems")?,
            quantity: plain_path(&k("quantity"), doc.quantity.as_deref(), "quantity")?,
            unit_price: plain_path(&k("unit_price"), doc.unit_price.as_deref(), "unitPrice")?,
            discount: plain_path(&k("discount"), doc.discount.as_deref(), "discount")?,
            line_total: plain_path(&k("line_total"), doc.line_total.as_deref(), "lineTotal")?,
            subtotal: plain_path(&k("subtotal"), doc.subtotal.as_deref(), "subtotalAmount")?,
            currency: plain_path(&k("currency"), doc.currency.as_deref(), "currency")?,
        })
    }
}

/// The template's settings and lookup tables, which a conversion may name.
struct Named<'t> {
    settings: &'t Map<String, Value>,
    lookups: &'t Map<String, Value>,
}

impl<'t> Named<'t> {
    fn setting_text(&self, key: &str, name: &str) -> Result<String, TemplateError> {
        match self.settings.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(conv_error(
                key,
                format!("setting `{name}` must be text, not {other}"),
            )),
            None => Err(conv_error(
                key,
                format!("setting `{name}` is not defined in the template's `settings`"),
            )),
        }
    }

    fn table(&self, key: &str, name: &str) -> Result<&'t Map<String, Value>, TemplateError> {
        self.lookups
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                conv_error(
                    key,
                    format!("lookup table `{name}` is not defined in the template's `lookups`"),
                )
            })
    }
}

impl Conversions {
    /// Check and compile a template's `conversions` object against its
    /// settings and lookup tables.
    pub(crate) fn compile(
        doc: &Value,
        settings: &Map<String, Value>,
        lookups: &Map<String, Value>,
    ) -> Result<Self, TemplateError> {
        if !doc.is_object() {
            return Err(TemplateError {
                key: None,
                rule: 0,
                target: "conversions".into(),
                message: "`conversions` must be an object (address, tax, currency, sku)".into(),
            });
        }
        let top = parse_top(doc)?;
        let cx = Named { settings, lookups };
        // In this order, so that of two faults the same one is reported.
        let address = top.address.as_ref().map(AddressConv::compile).transpose()?;
        let tax = top
            .tax
            .as_ref()
            .map(|v| TaxConv::compile(v, &cx))
            .transpose()?;
        let currency = top
            .currency
            .as_ref()
            .map(|v| CurrencyConv::compile(v, &cx))
            .transpose()?;
        let sku = top
            .sku
            .as_ref()
            .map(|v| SkuConv::compile(v, &cx))
            .transpose()?;

        Ok(Self {
            address,
            tax,
            currency,
            sku,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.address.is_none()
            && self.tax.is_none()
            && self.currency.is_none()
            && self.sku.is_none()
    }

    /// Whether an address or tax conversion rewrites the record in its own
    /// currency (what [`Mapped::normalized`](super::pipeline::Mapped::normalized) keeps).
    pub(crate) fn normalizes(&self) -> bool {
        self.address.is_some() || self.tax.is_some()
    }

    /// Whether the template resolves SKUs (and so wants the ERP catalog).
    pub fn resolves_skus(&self) -> bool {
        self.sku.is_some()
    }

    /// The name of the SKU lookup table, when the template resolves SKUs
    /// through one (`skus`).
    pub fn sku_table(&self) -> Option<&str> {
        self.sku.as_ref().and_then(|s| s.table_name.as_deref())
    }

    /// Address and tax: the record stays in its own currency.
    pub(crate) fn normalize(&self, record: &mut Value, run: &mut Stage<'_>) {
        if let Some(a) = &self.address {
            a.apply(record, run);
        }
        if let Some(t) = &self.tax {
            t.apply(record, run);
        }
    }

    /// Currency and SKU.
    pub(crate) fn convert(
        &self,
        record: &mut Value,
        inputs: &MappingInputs<'_>,
        run: &mut Stage<'_>,
    ) {
        if let Some(c) = &self.currency {
            c.apply(record, inputs.rates, run);
        }
        if let Some(s) = &self.sku {
            s.apply(record, inputs.catalog, run);
        }
    }
}

fn parse_top(doc: &Value) -> Result<ConversionsDoc, TemplateError> {
    ConversionsDoc::deserialize(doc).map_err(|e| {
        let text = e.to_string();
        let target = text
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| format!("conversions.{name}"))
            .unwrap_or_else(|| "conversions".to_owned());
        TemplateError {
            key: None,
            rule: 0,
            target,
            message: text,
        }
    })
}

impl OrderNames {
    fn paths(&self) -> [&FieldPath; 7] {
        [
            &self.lines,
            &self.quantity,
            &self.unit_price,
            &self.discount,
            &self.line_total,
            &self.subtotal,
            &self.currency,
        ]
    }
}

impl Conversions {
    /// Address and tax on the overlay, copying only what they rewrite.
    pub(crate) fn normalize_over(&self, o: &mut Overlay<'_>, run: &mut Stage<'_>) {
        if let Some(a) = &self.address {
            a.apply_over(o, run);
        }
        if let Some(t) = &self.tax {
            t.apply_over(o, run);
        }
    }

    /// Currency and SKU on the overlay.
    pub(crate) fn convert_over(
        &self,
        o: &mut Overlay<'_>,
        inputs: &MappingInputs<'_>,
        run: &mut Stage<'_>,
    ) {
        if let Some(c) = &self.currency {
            c.apply_over(o, inputs.rates, run);
        }
        if let Some(s) = &self.sku {
            s.apply_over(o, inputs.catalog, run);
        }
    }
}

/// The minor units of the record's currency (2 when it has none or an
/// unknown one: the rounding then matches cents, what most shops use).
fn minor_units(record: &Value, currency: &FieldPath) -> u32 {
    currency
        .get(record)
        .and_then(Value::as_str)
        .and_then(|c| CurrencyCode::parse(c).ok())
        .map_or(2, |c| c.minor_units())
}

fn round_to(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// A decimal written back as the kind of value it replaces: text stays text
/// (with `dp` decimals), numbers stay numbers.
fn amount_like(original: &Value, d: Decimal, dp: u32) -> Value {
    match original {
        Value::Number(_) => money::to_number(d).unwrap_or_else(|| Value::String(d.to_string())),
        _ => {
            let mut d = d;
            d.rescale(dp);
            Value::String(d.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::compile;
    use serde_json::json;

    #[test]
    fn unknown_keys_settings_tables_and_bad_values_are_refused_naming_the_key() {
        let cases = [
            (
                json!({"sku": {"treshold": 0.8}}),
                "conversions.sku.treshold",
                "unknown field",
            ),
            (json!({"adress": {}}), "conversions.adress", "unknown field"),
            (
                json!({"address": {"paths": ["a"], "fields": {"zip": "ZIP"}}}),
                "conversions.address.fields.zip",
                "unknown field",
            ),
            (
                json!({"address": {"paths": ["a"], "fields": {"city": "A.CITY"}}}),
                "conversions.address.fields.city",
                "no dots",
            ),
            (
                json!({"address": {"paths": ["a"], "fields": {"lines": ["A1"]}, "max_lines": 2}}),
                "conversions.address.max_lines",
                "names 1",
            ),
            (
                json!({"sku": {"threshold": 1.5}}),
                "conversions.sku.threshold",
                "(0, 1]",
            ),
            (
                json!({"sku": {"table": "nope"}}),
                "conversions.sku.table",
                "`nope`",
            ),
            (
                json!({"currency": {"to": "XXY", "amounts": ["a"]}}),
                "conversions.currency.to",
                "ISO 4217",
            ),
            (
                json!({"currency": {"to_setting": "missing", "amounts": ["a"]}}),
                "conversions.currency.to_setting",
                "`missing`",
            ),
            (
                json!({"currency": {"to": "USD"}}),
                "conversions.currency.amounts",
                "amounts",
            ),
            (
                json!({"currency": {"to": "USD", "amounts": ["lineItems[.x"]}}),
                "conversions.currency.amounts",
                "not a path",
            ),
            (
                json!({"tax": {"prices": "gross"}}),
                "conversions.tax.prices",
                "`gross`",
            ),
            (
                json!({"tax": {"prices": "inclusive", "quantity": "a[].q"}}),
                "conversions.tax.quantity",
                "plain path",
            ),
            (
                json!({"address": {"paths": []}}),
                "conversions.address.paths",
                "at least one",
            ),
            (
                json!({"address": {"paths": ["a"], "max_line": 3}}),
                "conversions.address.max_line",
                "too short",
            ),
            (json!([1]), "conversions", "must be an object"),
        ];
        for (conversions, target, text) in cases {
            let err = compile(json!({
                "settings": {"base_currency": "USD"},
                "conversions": conversions,
                "rules": [{"target": "a", "value": 1}]
            }))
            .unwrap_err();
            assert_eq!(err.target, target, "{conversions}: {err}");
            assert!(err.message.contains(text), "{conversions}: {}", err.message);
        }
        let t =
            compile(json!({"record": "Invoice", "rules": [{"target": "a", "value": 1}]})).unwrap();
        assert_eq!(t.record(), Some("Invoice"));
        assert!(t.conversions().is_empty());
    }
}
