//! The `currency` conversion: the amounts at `amounts` are converted from
//! the currency at `from` to `to` (a code) or `to_setting` (a template
//! setting) at the tenant's rate effective on the date at `date` (an RFC 3339
//! timestamp or YYYY-MM-DD, taken in UTC), each rounded half away from zero
//! to the target currency's minor unit. A missing rate is an issue on `from`
//! (rule `reference`), never a guess: no inverse, no chain. Text amounts
//! stay text, numbers stay numbers. `from` is rewritten to the target code,
//! and `store_as` (optional) receives `{from, to, rate, rate_date}`.
//! `balance: true` (or an object naming the fields, the same names and
//! defaults as `tax` plus `total` `totalAmount`, `plus`
//! `["shippingAmount", "taxAmount"]`, `minus` `["discountAmount"]`) then
//! recomputes `subtotal` = Σ round(quantity × unitPrice), each
//! `line_total`, and `total` = subtotal − minus + plus + the converted
//! difference the source already had, so the converted order adds up to
//! the minor unit exactly as the ERP will add it (line by line).

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::field_path::FieldPath;
use super::overlay::{Overlay, Stage};
use super::{
    Named, NamesDoc, OrderNames, amount_like, conv_error, parse_doc, plain_path, round_to,
};

use crate::mapping::TemplateError;
use crate::mapping::currency::{CurrencyCode, CurrencyError, RateTable};
use crate::mapping::money;
use crate::mapping::validate::Rule;

#[derive(Debug, Clone)]
pub(super) struct CurrencyConv {
    to: CurrencyCode,
    from: FieldPath,
    date: FieldPath,
    amounts: Vec<FieldPath>,
    balance: Option<Balance>,
    store_as: Option<FieldPath>,
}

#[derive(Debug, Clone)]
struct Balance {
    names: OrderNames,
    total: FieldPath,
    plus: Vec<FieldPath>,
    minus: Vec<FieldPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrencyDoc {
    to: Option<String>,
    to_setting: Option<String>,
    from: Option<String>,
    date: Option<String>,
    #[serde(default)]
    amounts: Vec<String>,
    balance: Option<Value>,
    store_as: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BalanceDoc {
    lines: Option<String>,
    quantity: Option<String>,
    unit_price: Option<String>,
    discount: Option<String>,
    line_total: Option<String>,
    subtotal: Option<String>,
    currency: Option<String>,
    total: Option<String>,
    plus: Option<Vec<String>>,
    minus: Option<Vec<String>>,
}

impl CurrencyConv {
    /// Check and compile the template's `conversions.currency`.
    pub(super) fn compile(v: &Value, cx: &Named<'_>) -> Result<Self, TemplateError> {
        let d: CurrencyDoc = parse_doc("currency", v)?;
        let (key, code) = match (&d.to, &d.to_setting) {
            (Some(c), None) => ("currency.to", c.clone()),
            (None, Some(s)) => (
                "currency.to_setting",
                cx.setting_text("currency.to_setting", s)?,
            ),
            _ => {
                return Err(conv_error(
                    "currency.to",
                    "give exactly one of `to` (a currency code) and `to_setting`",
                ));
            }
        };
        let to = CurrencyCode::parse(&code).map_err(|e| conv_error(key, e.to_string()))?;
        if d.amounts.is_empty() && d.balance.is_none() {
            return Err(conv_error(
                "currency.amounts",
                "name the amounts to convert",
            ));
        }
        let balance = match &d.balance {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(Balance::compile(&BalanceDoc::default())?),
            Some(v @ Value::Object(_)) => Some(Balance::compile(&parse_doc::<BalanceDoc>(
                "currency.balance",
                v,
            )?)?),
            Some(other) => {
                return Err(conv_error(
                    "currency.balance",
                    format!("must be true, false or an object of field names, not {other}"),
                ));
            }
        };
        Ok(Self {
            to,
            from: plain_path("currency.from", d.from.as_deref(), "currency")?,
            date: plain_path("currency.date", d.date.as_deref(), "orderDate")?,
            amounts: d
                .amounts
                .iter()
                .map(|p| FieldPath::parse(p).map_err(|m| conv_error("currency.amounts", m)))
                .collect::<Result<_, _>>()?,
            balance,
            store_as: d
                .store_as
                .as_deref()
                .map(|s| plain_path("currency.store_as", Some(s), ""))
                .transpose()?,
        })
    }

    /// [`Self::apply`] on the overlay: a record already in the target
    /// currency copies next to nothing.
    pub(super) fn apply_over(&self, o: &mut Overlay<'_>, rates: &RateTable, run: &mut Stage<'_>) {
        let same = self
            .from
            .get_view(o.view())
            .and_then(Value::as_str)
            .and_then(|s| CurrencyCode::parse(s).ok())
            .is_some_and(|from| from == self.to);
        if same {
            self.apply_same(o, rates, run);
        } else {
            o.ensure([&self.from, &self.date].into_iter().chain(&self.store_as));
            o.ensure(&self.amounts);
            if let Some(b) = &self.balance {
                o.ensure(b.names.paths());
                o.ensure([&b.total].into_iter().chain(&b.plus).chain(&b.minus));
            }
            self.apply(&mut o.record, rates, run);
        }
    }
}

impl Balance {
    fn compile(d: &BalanceDoc) -> Result<Self, TemplateError> {
        let list = |key: &str, given: &Option<Vec<String>>, default: &[&str]| {
            let texts: Vec<String> = match given {
                Some(v) => v.clone(),
                None => default.iter().map(|s| (*s).to_owned()).collect(),
            };
            texts
                .iter()
                .map(|t| plain_path(key, Some(t), ""))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            names: OrderNames::compile(
                "currency.balance",
                &NamesDoc {
                    lines: d.lines.clone(),
                    quantity: d.quantity.clone(),
                    unit_price: d.unit_price.clone(),
                    discount: d.discount.clone(),
                    line_total: d.line_total.clone(),
                    subtotal: d.subtotal.clone(),
                    currency: d.currency.clone(),
                },
            )?,
            total: plain_path("currency.balance.total", d.total.as_deref(), "totalAmount")?,
            plus: list(
                "currency.balance.plus",
                &d.plus,
                &["shippingAmount", "taxAmount"],
            )?,
            minus: list("currency.balance.minus", &d.minus, &["discountAmount"])?,
        })
    }
}

/// An RFC 3339 timestamp's UTC date, or a plain `YYYY-MM-DD`.
fn utc_date(text: &str) -> Option<time::Date> {
    let s = text.trim();
    if s.len() == 10 {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        return time::Date::parse(s, &format).ok();
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC).date())
}

impl CurrencyConv {
    pub(super) fn apply(&self, record: &mut Value, rates: &RateTable, run: &mut Stage<'_>) {
        let Some((from, rate_date, rate)) =
            self.rate(self.from.get(record), self.date.get(record), rates, run)
        else {
            return;
        };
        let from_value = self.from.get(record).cloned();
        // Read before anything is converted: the balance keeps whatever
        // difference the source already had, converted. In the same
        // currency nothing moves, so there is nothing to balance.
        let source_gap = self
            .balance
            .as_ref()
            .filter(|_| from != self.to)
            .map(|b| b.gap(record, from.minor_units()));
        let dp = self.to.minor_units();
        if from != self.to {
            for path in &self.amounts {
                let mut bad: Vec<(String, Value)> = Vec::new();
                path.visit_mut(record, &mut |at, v| match money::parse(v) {
                    Some(d) => match d.checked_mul(rate) {
                        Some(c) => *v = amount_like(v, round_to(c, dp), dp),
                        None => bad.push((path.render(at), v.clone())),
                    },
                    None => bad.push((path.render(at), v.clone())),
                });
                for (field, value) in bad {
                    run.issue(
                        field,
                        Some(value),
                        Rule::Type,
                        "not a decimal amount (or too large to convert)".into(),
                        None,
                    );
                }
            }
        }
        if let Some(b) = self.balance.as_ref().filter(|_| from != self.to) {
            let balanced = source_gap
                .expect("computed when there is a balance")
                .and_then(|gap| b.apply(record, dp, round_to(gap * rate, dp)));
            if let Err((field, value)) = balanced {
                run.issue(
                    field,
                    value,
                    Rule::Type,
                    "not a decimal amount".into(),
                    None,
                );
            }
        }
        if from_value.as_ref().and_then(Value::as_str) != Some(self.to.as_str()) {
            self.from
                .set(record, Value::String(self.to.as_str().to_owned()));
        }
        if let Some(store) = &self.store_as {
            store.set(record, self.exchange(from, rate_date, rate));
        }
    }

    /// A record already in the target currency on the overlay: nothing is
    /// converted, so only the code's spelling (`usd`) and `store_as` may be
    /// written, and nothing else is copied.
    fn apply_same(&self, o: &mut Overlay<'_>, rates: &RateTable, run: &mut Stage<'_>) {
        let view = o.view();
        let (from_value, date) = (self.from.get_view(view), self.date.get_view(view));
        let Some((from, rate_date, rate)) = self.rate(from_value, date, rates, run) else {
            return;
        };
        if from_value.and_then(Value::as_str) != Some(self.to.as_str()) {
            o.ensure([&self.from]);
            self.from
                .set(&mut o.record, Value::String(self.to.as_str().to_owned()));
        }
        if let Some(store) = &self.store_as {
            let info = self.exchange(from, rate_date, rate);
            o.ensure([store]);
            store.set(&mut o.record, info);
        }
    }

    /// What `store_as` records: `{from, to, rate, rate_date}`.
    fn exchange(&self, from: CurrencyCode, rate_date: time::Date, rate: Decimal) -> Value {
        let mut info = Map::new();
        info.insert("from".into(), Value::String(from.as_str().to_owned()));
        info.insert("to".into(), Value::String(self.to.as_str().to_owned()));
        // The same currency, rate 1, is the common case: skip normalizing.
        let rate_text = if rate == Decimal::ONE {
            "1".to_owned()
        } else {
            rate.normalize().to_string()
        };
        info.insert("rate".into(), Value::String(rate_text));
        info.insert(
            "rate_date".into(),
            Value::String(format!(
                "{:04}-{:02}-{:02}",
                rate_date.year(),
                u8::from(rate_date.month()),
                rate_date.day()
            )),
        );
        Value::Object(info)
    }

    /// The record's currency, and the rate (with its date) to convert it on
    /// the record's date; `None` after reporting why there is none.
    fn rate(
        &self,
        from_value: Option<&Value>,
        date_value: Option<&Value>,
        rates: &RateTable,
        run: &mut Stage<'_>,
    ) -> Option<(CurrencyCode, time::Date, Decimal)> {
        let from = match from_value {
            None => {
                run.issue(
                    self.from.text.clone(),
                    None,
                    Rule::Required,
                    format!(
                        "the record has no currency, so its amounts cannot be converted to {}",
                        self.to
                    ),
                    Some(format!("send `{}` on every record", self.from.text)),
                );
                return None;
            }
            Some(v) => match v.as_str().map(CurrencyCode::parse) {
                Some(Ok(c)) => c,
                _ => {
                    run.issue(
                        self.from.text.clone(),
                        Some(v.clone()),
                        Rule::Type,
                        format!("{v} is not an ISO 4217 currency code"),
                        Some("send a three-letter code such as USD or EUR".into()),
                    );
                    return None;
                }
            },
        };
        let Some(date) = date_value.and_then(Value::as_str).and_then(utc_date) else {
            run.issue(
                self.date.text.clone(),
                date_value.cloned(),
                Rule::Required,
                "the record needs a date (RFC 3339 or YYYY-MM-DD) to pick the exchange rate".into(),
                None,
            );
            return None;
        };
        let (rate_date, rate) = if from == self.to {
            (date, Decimal::ONE)
        } else {
            match rates.rate_on(from, self.to, date) {
                Ok(r) => r,
                Err(e @ CurrencyError::MissingRate { .. }) => {
                    run.issue(
                        self.from.text.clone(),
                        from_value.cloned(),
                        Rule::Reference,
                        e.to_string(),
                        Some(format!(
                            "add a {from}→{} rate effective on or before {date} to the tenant's rate table, then replay",
                            self.to
                        )),
                    );
                    return None;
                }
                Err(e) => {
                    run.issue(
                        self.from.text.clone(),
                        from_value.cloned(),
                        Rule::Reference,
                        e.to_string(),
                        None,
                    );
                    return None;
                }
            }
        };
        Some((from, rate_date, rate))
    }
}

type Bad = (String, Option<Value>);

impl Balance {
    fn read(p: &FieldPath, v: &Value, label: impl Fn() -> String) -> Result<Decimal, Bad> {
        match p.get(v) {
            None => Ok(Decimal::ZERO),
            Some(x) => money::parse(x).ok_or_else(|| (label(), Some(x.clone()))),
        }
    }

    /// Σ round(q × p) − minus + plus, as the ERP adds the order.
    fn parts(&self, record: &Value, dp: u32) -> Result<Decimal, Bad> {
        let n = &self.names;
        let mut sum = Decimal::ZERO;
        if let Some(lines) = n.lines.get(record).and_then(Value::as_array) {
            for (i, line) in lines.iter().enumerate() {
                let label = |p: &FieldPath| format!("{}[{i}].{}", n.lines.text, p.text);
                let q = Self::read(&n.quantity, line, || label(&n.quantity))?;
                let p = Self::read(&n.unit_price, line, || label(&n.unit_price))?;
                sum += round_to(q * p, dp);
            }
        }
        for p in &self.plus {
            sum += Self::read(p, record, || p.text.clone())?;
        }
        for p in &self.minus {
            sum -= Self::read(p, record, || p.text.clone())?;
        }
        Ok(sum)
    }

    /// What the source's stated total differs from its parts by.
    fn gap(&self, record: &Value, dp: u32) -> Result<Decimal, Bad> {
        let total = Self::read(&self.total, record, || self.total.text.clone())?;
        Ok(total - self.parts(record, dp)?)
    }

    fn apply(&self, record: &mut Value, dp: u32, gap: Decimal) -> Result<(), Bad> {
        let n = &self.names;
        let mut subtotal = Decimal::ZERO;
        let lines_label = n.lines.text.clone();
        if let Some(lines) = n.lines.get_mut(record).and_then(Value::as_array_mut) {
            for (i, line) in lines.iter_mut().enumerate() {
                let label = |p: &FieldPath| format!("{lines_label}[{i}].{}", p.text);
                let q = Self::read(&n.quantity, line, || label(&n.quantity))?;
                let p = Self::read(&n.unit_price, line, || label(&n.unit_price))?;
                let d = Self::read(&n.discount, line, || label(&n.discount))?;
                let extended = round_to(q * p, dp);
                subtotal += extended;
                if let Some(orig) = n.line_total.get(line).cloned() {
                    n.line_total.set(line, amount_like(&orig, extended - d, dp));
                }
            }
        }
        if let Some(orig) = n.subtotal.get(record).cloned() {
            n.subtotal.set(record, amount_like(&orig, subtotal, dp));
        }
        let total = self.parts(record, dp)? + gap;
        let orig = self
            .total
            .get(record)
            .cloned()
            .unwrap_or(Value::String(String::new()));
        self.total.set(record, amount_like(&orig, total, dp));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{run, with_conversions};
    use crate::mapping::CompiledTemplate;
    use crate::mapping::validate::Rule;

    fn currency_template() -> CompiledTemplate {
        with_conversions(json!({"currency": {
            "to_setting": "base_currency",
            "amounts": ["subtotalAmount", "discountAmount", "shippingAmount", "taxAmount", "totalAmount",
                        "lineItems[].unitPrice", "lineItems[].tax", "lineItems[].discount", "lineItems[].lineTotal"],
            "balance": true, "store_as": "exchange"
        }}))
    }

    fn eur_order() -> Value {
        json!({
            "currency": "EUR", "orderDate": "2024-03-01T23:30:00-02:00",
            "subtotalAmount": "30.03", "discountAmount": "1.00", "shippingAmount": "5.00", "taxAmount": "2.40", "totalAmount": "36.43",
            "lineItems": [
                {"quantity": 3, "unitPrice": "3.33", "tax": "1.20", "discount": "0.00", "lineTotal": "9.99"},
                {"quantity": 2, "unitPrice": "10.02", "tax": "1.20", "discount": "1.00", "lineTotal": "19.04"}
            ]
        })
    }

    #[test]
    fn amounts_convert_at_the_rate_of_the_utc_date_and_the_order_still_adds_up() {
        let m = run(&currency_template(), &eur_order(), None);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["currency"], json!("USD"));
        assert_eq!(
            r["exchange"],
            json!({"from": "EUR", "to": "USD", "rate": "1.1", "rate_date": "2024-01-01"})
        );
        // 3.33 × 1.1 = 3.663 → 3.66; 3 × 3.66 = 10.98; 10.02 × 1.1 = 11.022 → 11.02; 2 × 11.02 = 22.04.
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("3.66"));
        assert_eq!(r["lineItems"][1]["unitPrice"], json!("11.02"));
        assert_eq!(r["subtotalAmount"], json!("33.02"));
        assert_eq!(r["lineItems"][0]["lineTotal"], json!("10.98"));
        assert_eq!(r["lineItems"][1]["lineTotal"], json!("20.94"));
        // 33.02 − 1.10 + 5.50 + 2.64
        assert_eq!(r["totalAmount"], json!("40.06"));
    }

    #[test]
    fn a_missing_rate_is_an_issue_on_the_currency_never_a_guess() {
        let mut order = eur_order();
        order["currency"] = json!("GBP");
        let m = run(&currency_template(), &order, None);
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        let i = &m.issues[0];
        assert_eq!((i.field.as_str(), i.rule), ("currency", Rule::Reference));
        assert_eq!(i.value, Some(json!("GBP")));
        assert!(i.message.contains("GBP→USD"), "{}", i.message);
        assert!(
            i.suggestion.as_deref().unwrap().contains("2024-03-02"),
            "{:?}",
            i.suggestion
        );
        // Before the first EUR rate there is none either.
        let mut early = eur_order();
        early["orderDate"] = json!("2023-12-31");
        assert_eq!(
            run(&currency_template(), &early, None).issues[0].rule,
            Rule::Reference
        );
        // No date, no conversion.
        let mut undated = eur_order();
        undated.as_object_mut().unwrap().remove("orderDate");
        assert_eq!(
            run(&currency_template(), &undated, None).issues[0].field,
            "orderDate"
        );
    }

    #[test]
    fn the_base_currency_needs_no_rate_and_keeps_every_amount() {
        let mut order = eur_order();
        order["currency"] = json!("usd");
        let m = run(&currency_template(), &order, None);
        assert!(m.issues.is_empty());
        let r = &m.output.unwrap()["copy"];
        assert_eq!(r["totalAmount"], json!("36.43"));
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("3.33"));
        assert_eq!(r["currency"], json!("USD"));
    }

    #[test]
    fn zero_decimal_currencies_convert_too() {
        let order = json!({
            "currency": "JPY", "orderDate": "2024-05-01",
            "subtotalAmount": "4500", "discountAmount": "0", "shippingAmount": "500", "taxAmount": "450", "totalAmount": "5450",
            "lineItems": [{"quantity": 3, "unitPrice": "1500", "tax": "450", "discount": "0", "lineTotal": "4500"}]
        });
        let m = run(&currency_template(), &order, None);
        let r = &m.output.unwrap()["copy"];
        // 1500 × 0.0067 = 10.05; 500 × 0.0067 = 3.35; 450 × 0.0067 = 3.015 → 3.02
        assert_eq!(r["lineItems"][0]["unitPrice"], json!("10.05"));
        assert_eq!(r["totalAmount"], json!("36.52"));
    }
}
