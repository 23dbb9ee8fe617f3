//! The `tax` conversion: `prices` is `"exclusive"` (nothing to do) or
//! `"inclusive"`; or `prices_setting` names the template setting that says
//! which. With inclusive prices each line's tax comes out of its price: the
//! line's gross is round(quantity × unitPrice) (to the currency's minor
//! unit), its tax is the line's `tax` when given, else round((gross −
//! discount) × rate / (1 + rate)) from the line's `rate` (a percentage, `20`
//! or `"20%"`). The net unit price is (gross − tax) / quantity rounded UP to
//! the minor unit, and the few minor units that rounding adds are added to
//! the line's `discount` (and the order's `order_discount`), so the
//! customer's total does not move by a cent. The order's `order_tax`
//! becomes the lines' tax, `subtotal` the new Σ round(quantity × price),
//! `line_total` each line's net. Field names default to Clarity's:
//! `lines` `lineItems`, `quantity`, `unit_price` `unitPrice`, `tax`,
//! `rate` `taxRate`, `discount`, `line_total` `lineTotal`, `order_tax`
//! `taxAmount`, `order_discount` `discountAmount`, `subtotal`
//! `subtotalAmount`, `currency`. `codes: {"table", "code", "write"}`
//! also maps each line's tax code (or, without one, its rate, keys like
//! `"7.25%"`) through a lookup table to the ERP tax detail, written at
//! `write` on the line; an unmapped code is an issue.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::Value;

use super::field_path::FieldPath;
use super::overlay::{Overlay, Stage};
use super::{
    Named, NamesDoc, OrderNames, amount_like, conv_error, minor_units, parse_doc, plain_path,
    round_to,
};

use crate::mapping::TemplateError;
use crate::mapping::money;
use crate::mapping::tax::{TaxCodeMap, TaxRate};
use crate::mapping::validate::Rule;

#[derive(Debug, Clone)]
pub(super) struct TaxConv {
    inclusive: bool,
    names: OrderNames,
    tax: FieldPath,
    rate: FieldPath,
    order_tax: FieldPath,
    order_discount: FieldPath,
    codes: Option<TaxCodes>,
}

#[derive(Debug, Clone)]
struct TaxCodes {
    table: String,
    map: TaxCodeMap,
    code: FieldPath,
    write: FieldPath,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxDoc {
    prices: Option<String>,
    prices_setting: Option<String>,
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
    tax: Option<String>,
    rate: Option<String>,
    order_tax: Option<String>,
    order_discount: Option<String>,
    codes: Option<TaxCodesDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxCodesDoc {
    table: String,
    code: Option<String>,
    write: String,
}

impl TaxConv {
    /// Check and compile the template's `conversions.tax`.
    pub(super) fn compile(v: &Value, cx: &Named<'_>) -> Result<Self, TemplateError> {
        let d: TaxDoc = parse_doc("tax", v)?;
        let (key, prices) = match (&d.prices, &d.prices_setting) {
            (Some(p), None) => ("tax.prices", p.clone()),
            (None, Some(s)) => (
                "tax.prices_setting",
                cx.setting_text("tax.prices_setting", s)?,
            ),
            _ => {
                return Err(conv_error(
                    "tax.prices",
                    "give exactly one of `prices` (\"inclusive\" or \"exclusive\") and `prices_setting`",
                ));
            }
        };
        let inclusive = match prices.as_str() {
            "inclusive" => true,
            "exclusive" => false,
            other => {
                return Err(conv_error(
                    key,
                    format!("`{other}` is not `inclusive` or `exclusive`"),
                ));
            }
        };
        let names = OrderNames::compile(
            "tax",
            &NamesDoc {
                lines: d.lines.clone(),
                quantity: d.quantity.clone(),
                unit_price: d.unit_price.clone(),
                discount: d.discount.clone(),
                line_total: d.line_total.clone(),
                subtotal: d.subtotal.clone(),
                currency: d.currency.clone(),
            },
        )?;
        let codes = match &d.codes {
            None => None,
            Some(c) => {
                let entries = cx.table("tax.codes.table", &c.table)?;
                let mut pairs = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let Some(detail) = v.as_str() else {
                        return Err(conv_error(
                            "tax.codes.table",
                            format!("lookup table `{}`: `{k}` must map to text", c.table),
                        ));
                    };
                    pairs.push((k.clone(), detail.to_owned()));
                }
                let map = TaxCodeMap::from_entries(pairs)
                    .map_err(|e| conv_error("tax.codes.table", e.to_string()))?;
                Some(TaxCodes {
                    table: c.table.clone(),
                    map,
                    code: plain_path("tax.codes.code", c.code.as_deref(), "taxCode")?,
                    write: plain_path("tax.codes.write", Some(&c.write), "")?,
                })
            }
        };
        Ok(Self {
            inclusive,
            names,
            tax: plain_path("tax.tax", d.tax.as_deref(), "tax")?,
            rate: plain_path("tax.rate", d.rate.as_deref(), "taxRate")?,
            order_tax: plain_path("tax.order_tax", d.order_tax.as_deref(), "taxAmount")?,
            order_discount: plain_path(
                "tax.order_discount",
                d.order_discount.as_deref(),
                "discountAmount",
            )?,
            codes,
        })
    }

    /// [`Self::apply`] on the overlay, copying only the values it rewrites.
    pub(super) fn apply_over(&self, o: &mut Overlay<'_>, run: &mut Stage<'_>) {
        // Exclusive prices without codes: nothing to do.
        if self.inclusive || self.codes.is_some() {
            let n = &self.names;
            o.ensure(n.paths());
            o.ensure([&self.tax, &self.rate, &self.order_tax, &self.order_discount]);
            if let Some(c) = &self.codes {
                o.ensure([&c.code, &c.write]);
            }
            self.apply(&mut o.record, run);
        }
    }
}

/// A tax rate as a percentage: `20`, `"20"`, `"20%"`, `"7.25 %"`.
fn parse_rate(v: &Value) -> Option<TaxRate> {
    let d = match v {
        Value::String(s) => Decimal::from_str(s.trim().trim_end_matches('%').trim()).ok()?,
        other => money::parse(other)?,
    };
    TaxRate::from_percent(d).ok()
}

impl TaxConv {
    pub(super) fn apply(&self, record: &mut Value, run: &mut Stage<'_>) {
        if let Some(codes) = &self.codes {
            self.map_codes(codes, record, run);
        }
        if !self.inclusive {
            return;
        }
        let n = &self.names;
        let dp = minor_units(record, &n.currency);
        let lines_label = n.lines.text.clone();
        let Some(lines) = n.lines.get_mut(record).and_then(Value::as_array_mut) else {
            return;
        };
        let mut ok = true;
        let (mut subtotal, mut tax_sum, mut rest_sum) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for (i, line) in lines.iter_mut().enumerate() {
            let at = |p: &FieldPath| format!("{lines_label}[{i}].{}", p.text);
            let number =
                |p: &FieldPath, line: &Value| -> Result<Option<Decimal>, (String, Value)> {
                    match p.get(line) {
                        None => Ok(None),
                        Some(v) => money::parse(v).map(Some).ok_or_else(|| (at(p), v.clone())),
                    }
                };
            let read = (|| {
                let qty = number(&n.quantity, line)?;
                let price = number(&n.unit_price, line)?;
                let discount = number(&n.discount, line)?.unwrap_or_default();
                let tax = number(&self.tax, line)?;
                Ok::<_, (String, Value)>((qty, price, discount, tax))
            })();
            let (qty, price, discount, given_tax) = match read {
                Ok(v) => v,
                Err((field, value)) => {
                    run.issue(
                        field,
                        Some(value),
                        Rule::Type,
                        "not a decimal amount".into(),
                        Some("send amounts as decimal text or numbers".into()),
                    );
                    ok = false;
                    continue;
                }
            };
            let (Some(qty), Some(price)) = (qty, price) else {
                let missing = if qty.is_none() {
                    &n.quantity
                } else {
                    &n.unit_price
                };
                run.issue(
                    at(missing),
                    None,
                    Rule::Required,
                    "a line with tax-inclusive prices needs a quantity and a unit price".into(),
                    None,
                );
                ok = false;
                continue;
            };
            let gross = round_to(qty * price, dp);
            let tax = match given_tax {
                Some(t) => t,
                None => match self.rate.get(line) {
                    Some(r) => match parse_rate(r) {
                        Some(rate) => {
                            let f = rate.fraction();
                            round_to((gross - discount) * f / (Decimal::ONE + f), dp)
                        }
                        None => {
                            run.issue(
                                at(&self.rate),
                                Some(r.clone()),
                                Rule::Type,
                                "not a tax rate between 0 % and 100 %".into(),
                                Some("send the rate as a percentage, e.g. 20 or \"20%\"".into()),
                            );
                            ok = false;
                            continue;
                        }
                    },
                    None => {
                        run.issue(
                            at(&self.tax),
                            None,
                            Rule::Required,
                            format!(
                                "with tax-inclusive prices each line needs its tax (`{}`) or its rate (`{}`)",
                                self.tax.text, self.rate.text
                            ),
                            None,
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            if qty.is_zero() {
                // Nothing to divide; the line carries no amount either way.
                continue;
            }
            // Rounded up, so the few minor units the rounding adds can go to
            // the discount and the customer's total stays put.
            let net_price = (gross - tax) / qty;
            let net_price = net_price.round_dp_with_strategy(
                dp,
                if net_price.is_sign_negative() {
                    RoundingStrategy::ToNegativeInfinity
                } else {
                    RoundingStrategy::ToPositiveInfinity
                },
            );
            let extended = round_to(qty * net_price, dp);
            let rest = extended - (gross - tax);
            let orig_price = n.unit_price.get(line).cloned().unwrap_or(Value::Null);
            n.unit_price
                .set(line, amount_like(&orig_price, net_price, dp));
            let orig = n
                .discount
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            n.discount
                .set(line, amount_like(&orig, discount + rest, dp));
            let orig = self
                .tax
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            self.tax.set(line, amount_like(&orig, tax, dp));
            let orig = n
                .line_total
                .get(line)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            n.line_total
                .set(line, amount_like(&orig, extended - discount - rest, dp));
            subtotal += extended;
            tax_sum += tax;
            rest_sum += rest;
        }
        if !ok {
            return;
        }
        let order_discount = self
            .order_discount
            .get(record)
            .and_then(money::parse)
            .unwrap_or_default();
        for (p, d) in [
            (&n.subtotal, subtotal),
            (&self.order_tax, tax_sum),
            (&self.order_discount, order_discount + rest_sum),
        ] {
            let orig = p
                .get(record)
                .cloned()
                .unwrap_or(Value::String(String::new()));
            p.set(record, amount_like(&orig, d, dp));
        }
    }

    fn map_codes(&self, codes: &TaxCodes, record: &mut Value, run: &mut Stage<'_>) {
        let lines_label = self.names.lines.text.clone();
        let Some(lines) = self
            .names
            .lines
            .get_mut(record)
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for (i, line) in lines.iter_mut().enumerate() {
            let code = codes.code.get(line).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            let rate = self.rate.get(line).and_then(parse_rate);
            match codes.map.resolve(code.as_deref(), rate) {
                Ok(detail) => {
                    let detail = detail.to_owned();
                    codes.write.set(line, Value::String(detail));
                }
                Err(e) => {
                    let (field, value) = match &code {
                        Some(c) => (&codes.code, Some(Value::String(c.clone()))),
                        None => (&self.rate, self.rate.get(line).cloned()),
                    };
                    run.issue(
                        format!("{lines_label}[{i}].{}", field.text),
                        value,
                        Rule::Reference,
                        e.to_string(),
                        Some(format!(
                            "add it to the `{}` lookup table with the ERP's tax detail id",
                            codes.table
                        )),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde_json::json;

    use super::super::testing::{run, with_conversions};
    use crate::mapping::validate::Rule;

    #[test]
    fn inclusive_prices_become_exclusive_without_moving_the_total_by_a_cent() {
        let t = with_conversions(json!({"tax": {"prices_setting": "tax_prices"}}));
        // 3 × 19.99 = 59.97 incl. 20 %: tax 9.995 → 10.00, net 49.97; 49.97 / 3
        // = 16.656… → 16.66 up, 3 × 16.66 = 49.98, so 0.01 goes to the discount.
        let source = json!({
            "currency": "GBP", "subtotalAmount": "69.97", "discountAmount": "0.00", "shippingAmount": "4.00",
            "taxAmount": "11.67", "totalAmount": "73.97",
            "lineItems": [
                {"sku": "A", "quantity": 3, "unitPrice": "19.99", "taxRate": "20%", "discount": "0.00", "lineTotal": "59.97"},
                {"sku": "B", "quantity": 1, "unitPrice": "10.00", "tax": "1.67", "discount": "0.00", "lineTotal": "10.00"}
            ]
        });
        let m = run(&t, &source, None);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("16.66"));
        assert_eq!(r["lineItems"][0]["tax"], json!("10.00"));
        assert_eq!(r["lineItems"][0]["discount"], json!("0.01"));
        assert_eq!(r["lineItems"][0]["lineTotal"], json!("49.97"));
        assert_eq!(r["lineItems"][1]["unitPrice"], json!("8.33"));
        assert_eq!(r["subtotalAmount"], json!("58.31"));
        assert_eq!(r["taxAmount"], json!("11.67"));
        assert_eq!(r["discountAmount"], json!("0.01"));
        // subtotal − discount + shipping + tax = the unchanged total.
        let d = |k: &str| Decimal::from_str(r[k].as_str().unwrap()).unwrap();
        assert_eq!(
            d("subtotalAmount") - d("discountAmount") + d("shippingAmount") + d("taxAmount"),
            d("totalAmount")
        );
        assert_eq!(r["totalAmount"], json!("73.97"));

        let mut bad = source.clone();
        bad["lineItems"][0]
            .as_object_mut()
            .unwrap()
            .remove("taxRate");
        let m = run(&t, &bad, None);
        assert_eq!(m.issues.len(), 1);
        assert_eq!(m.issues[0].field, "lineItems[0].tax");
        assert_eq!(m.issues[0].rule, Rule::Required);
    }

    #[test]
    fn tax_codes_map_to_erp_details_and_an_unmapped_code_is_an_issue() {
        let t = with_conversions(
            json!({"tax": {"prices": "exclusive", "codes": {"table": "tax_details", "write": "taxDetail"}}}),
        );
        let source = json!({"lineItems": [
            {"taxCode": "vat20"}, {"taxRate": "7.25"}, {"taxCode": "VAT5", "taxRate": 20}
        ]});
        let m = run(&t, &source, None);
        let lines = &m.output.as_ref().unwrap()["copy"]["lineItems"];
        assert_eq!(lines[0]["taxDetail"], json!("UK-STD"));
        assert_eq!(lines[1]["taxDetail"], json!("CA-STATE"));
        assert_eq!(m.issues.len(), 1);
        assert_eq!(m.issues[0].field, "lineItems[2].taxCode");
        assert_eq!(m.issues[0].rule, Rule::Reference);
        assert!(
            m.issues[0].message.contains("VAT5"),
            "{}",
            m.issues[0].message
        );
    }
}
