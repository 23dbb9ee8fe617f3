//! Anomalies in mapped data, flagged on the run before writing.
//!
//! [`check_order`] reads a Clarity order (the source record, camelCase:
//! `orderId`, `customerId`, `currency`, `lineItems[].quantity`,
//! `lineItems[].unitPrice`, `discountAmount`, `shippingAmount`,
//! `taxAmount`, `totalAmount`) and compares it with the tenant's
//! [`History`]. It looks for:
//!
//! - totals that do not add up: lines (quantity × unit price, each rounded
//!   to the minor unit) − discount + shipping + tax ≠ total, compared at the
//!   currency's minor unit, and a stated subtotal that is not the lines' sum;
//! - a total or a line quantity far above the tenant's recent orders. The
//!   fence is robust to the outliers it looks for: the median plus
//!   [`OUTLIER_MADS`] scaled median absolute deviations, and never less than
//!   [`OUTLIER_MIN_RATIO`] × the median. Totals are compared only with
//!   orders in the same currency. Below [`MIN_SAMPLES`] orders the history
//!   says nothing, so a new tenant's first large order is not "unusual";
//! - a currency other than the customer's usual one, once the customer has
//!   [`MIN_CUSTOMER_ORDERS`] orders in one currency;
//! - the same content as a recent order with another id ([`fingerprint`]),
//!   placed within [`DUPLICATE_WITHIN`] of it: a double submission, not a
//!   customer's monthly repeat order.
//!
//! Anomalies are flags, not errors: the order may be right, and the run
//! shows why it was flagged. Everything here is pure and deterministic;
//! `backend::history` stores the summaries and loads the window.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::currency_code::CurrencyCode;

/// Orders (in the currency, for totals) the history needs before it calls
/// anything an outlier: with fewer, a median is mostly noise.
pub const MIN_SAMPLES: usize = 20;
/// Orders a customer needs in one currency before it is their usual one.
pub const MIN_CUSTOMER_ORDERS: u64 = 3;
/// How many scaled MADs above the median a value must be to be flagged.
pub const OUTLIER_MADS: Decimal = Decimal::from_parts(6, 0, 0, false, 0);
/// A flagged value is also at least this many times the median, so a tenant
/// whose orders are all alike is not flagged for a slightly larger one.
pub const OUTLIER_MIN_RATIO: Decimal = Decimal::from_parts(3, 0, 0, false, 0);
/// 1.4826: makes the MAD estimate a normal distribution's standard deviation.
const MAD_SCALE: Decimal = Decimal::from_parts(14826, 0, 0, false, 4);
/// Two orders with the same content further apart than this are two orders.
pub const DUPLICATE_WITHIN: time::Duration = time::Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    TotalsMismatch,
    QuantityOutlier,
    AmountOutlier,
    UnusualCurrency,
    DuplicateContent,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 5] = [
        Self::TotalsMismatch,
        Self::QuantityOutlier,
        Self::AmountOutlier,
        Self::UnusualCurrency,
        Self::DuplicateContent,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TotalsMismatch => "totals_mismatch",
            Self::QuantityOutlier => "quantity_outlier",
            Self::AmountOutlier => "amount_outlier",
            Self::UnusualCurrency => "unusual_currency",
            Self::DuplicateContent => "duplicate_content",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flag: what kind, which source field, and why, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// A path in the source record (`totalAmount`, `lineItems[2].quantity`).
    pub field: String,
    pub message: String,
}

/// What the history keeps of one order: everything the checks compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub source_id: String,
    pub customer_id: Option<String>,
    /// Upper-case ISO 4217 code, when the order has a valid one.
    pub currency: Option<String>,
    pub total: Option<Decimal>,
    /// The largest quantity on any line.
    pub max_quantity: Option<Decimal>,
    pub fingerprint: String,
    pub placed_at: Option<OffsetDateTime>,
}

impl OrderSummary {
    /// The summary of a Clarity order; `source_id` is the id the run keys it
    /// on (usually `orderId`).
    pub fn of(source_id: &str, order: &Value) -> Self {
        Self {
            source_id: source_id.to_owned(),
            customer_id: text(order.get("customerId")),
            currency: currency(order).map(|c| c.as_str().to_owned()),
            total: decimal(order.get("totalAmount")),
            max_quantity: lines(order)
                .iter()
                .filter_map(|line| decimal(line.get("quantity")))
                .max(),
            fingerprint: fingerprint(order),
            placed_at: placed_at(order),
        }
    }
}

/// A sorted sample with its median and median absolute deviation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Spread {
    sorted: Vec<Decimal>,
    median: Decimal,
    mad: Decimal,
}

impl Spread {
    fn from_values(mut values: Vec<Decimal>) -> Self {
        values.sort_unstable();
        let mut spread = Self {
            sorted: values,
            ..Self::default()
        };
        spread.refresh();
        spread
    }

    fn add(&mut self, value: Decimal) {
        let at = self.sorted.partition_point(|v| *v <= value);
        self.sorted.insert(at, value);
        self.refresh();
    }

    fn refresh(&mut self) {
        self.median = median_of_sorted(&self.sorted);
        let mut deviations: Vec<Decimal> = self
            .sorted
            .iter()
            .map(|v| (*v - self.median).abs())
            .collect();
        self.mad = median_of_unsorted(&mut deviations);
    }

    /// The value above which a sample is an outlier, when there are enough
    /// samples to say.
    fn fence(&self) -> Option<Decimal> {
        if self.sorted.len() < MIN_SAMPLES || self.median <= Decimal::ZERO {
            return None;
        }
        let by_mad = self
            .median
            .checked_add(self.mad.checked_mul(MAD_SCALE)?.checked_mul(OUTLIER_MADS)?)?;
        let by_ratio = self.median.checked_mul(OUTLIER_MIN_RATIO)?;
        Some(by_mad.max(by_ratio))
    }
}

/// The median by selection, without sorting the whole sample.
fn median_of_unsorted(values: &mut [Decimal]) -> Decimal {
    let n = values.len();
    if n == 0 {
        return Decimal::ZERO;
    }
    let (below, upper, _) = values.select_nth_unstable(n / 2);
    let upper = *upper;
    match below.iter().max() {
        Some(lower) if n.is_multiple_of(2) => (*lower + upper) / Decimal::TWO,
        _ => upper,
    }
}

fn median_of_sorted(sorted: &[Decimal]) -> Decimal {
    let n = sorted.len();
    match n {
        0 => Decimal::ZERO,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::TWO,
    }
}

/// A tenant's recent orders, summarized for [`check_order`].
///
/// Built from the recent window of [`OrderSummary`]s (newest or oldest
/// first, order does not matter) and, optionally, all-time counts of each
/// customer's orders per currency. [`History::record`] adds an order seen
/// during a run, so a duplicate within one batch is caught too.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Shared: one window serves every record checked against it, each with
    /// its own customer's counts ([`Self::with_customers`]).
    window: Arc<Window>,
    customers: HashMap<String, HashMap<String, u64>>,
}

/// The window's orders, summarized.
#[derive(Debug, Clone, Default)]
struct Window {
    orders: usize,
    totals: HashMap<String, Spread>,
    quantities: Spread,
    /// Sorted by fingerprint: one allocation for the window, where a map
    /// would hash every fingerprint and hold a list per entry.
    fingerprints: Vec<Seen>,
}

/// An order of the window under its content fingerprint.
#[derive(Debug, Clone)]
struct Seen {
    fingerprint: String,
    source_id: String,
    placed_at: Option<OffsetDateTime>,
}

impl History {
    /// The window's orders, with each customer's currency counts taken from
    /// the window itself.
    pub fn from_orders(recent: impl IntoIterator<Item = OrderSummary>) -> Self {
        let mut history = Self::default();
        let recent: Vec<OrderSummary> = recent.into_iter().collect();
        for summary in &recent {
            if let (Some(customer), Some(currency)) = (&summary.customer_id, &summary.currency) {
                *history
                    .customers
                    .entry(customer.clone())
                    .or_default()
                    .entry(currency.clone())
                    .or_default() += 1;
            }
        }
        history.add_window(recent);
        history
    }

    /// The window's orders, and each customer's order counts per currency
    /// from a longer record (`(customer id, currency, orders)`), which
    /// replaces counting the window.
    pub fn new(
        recent: impl IntoIterator<Item = OrderSummary>,
        customer_currencies: impl IntoIterator<Item = (String, String, u64)>,
    ) -> Self {
        let mut history = Self::default();
        for (customer, currency, orders) in customer_currencies {
            *history
                .customers
                .entry(customer)
                .or_default()
                .entry(currency)
                .or_default() += orders;
        }
        history.add_window(recent.into_iter().collect());
        history
    }

    /// This window with other customers' currency counts (see [`Self::new`]):
    /// a window built once serves every customer's orders.
    pub fn with_customers(
        &self,
        customer_currencies: impl IntoIterator<Item = (String, String, u64)>,
    ) -> Self {
        let mut history = Self {
            window: self.window.clone(),
            customers: HashMap::new(),
        };
        for (customer, currency, orders) in customer_currencies {
            *history
                .customers
                .entry(customer)
                .or_default()
                .entry(currency)
                .or_default() += orders;
        }
        history
    }

    fn add_window(&mut self, recent: Vec<OrderSummary>) {
        let window = Arc::make_mut(&mut self.window);
        // A tenant has a handful of currencies: a list beats hashing each
        // order's code.
        let mut totals: Vec<(String, Vec<Decimal>)> = Vec::new();
        let mut quantities = Vec::with_capacity(recent.len());
        window.fingerprints.reserve(recent.len());
        for summary in recent {
            window.orders += 1;
            if let (Some(currency), Some(total)) = (summary.currency, summary.total) {
                match totals.iter_mut().find(|(c, _)| *c == currency) {
                    Some((_, values)) => values.push(total),
                    None => totals.push((currency, vec![total])),
                }
            }
            quantities.extend(summary.max_quantity);
            window.fingerprints.push(Seen {
                fingerprint: summary.fingerprint,
                source_id: summary.source_id,
                placed_at: summary.placed_at,
            });
        }
        window
            .fingerprints
            .sort_unstable_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        window.totals = totals
            .into_iter()
            .map(|(currency, values)| (currency, Spread::from_values(values)))
            .collect();
        window.quantities = Spread::from_values(quantities);
    }

    /// The window's orders with this content.
    fn seen(&self, fingerprint: &str) -> &[Seen] {
        let fingerprints = &self.window.fingerprints;
        let start = fingerprints.partition_point(|s| s.fingerprint.as_str() < fingerprint);
        let len = fingerprints[start..].partition_point(|s| s.fingerprint.as_str() == fingerprint);
        &fingerprints[start..start + len]
    }

    /// Adds one order, as `backend::history::record_order` would store it.
    pub fn record(&mut self, summary: OrderSummary) {
        let window = Arc::make_mut(&mut self.window);
        window.orders += 1;
        if let Some(currency) = &summary.currency {
            if let Some(total) = summary.total {
                window
                    .totals
                    .entry(currency.clone())
                    .or_default()
                    .add(total);
            }
            if let Some(customer) = &summary.customer_id {
                *self
                    .customers
                    .entry(customer.clone())
                    .or_default()
                    .entry(currency.clone())
                    .or_default() += 1;
            }
        }
        if let Some(quantity) = summary.max_quantity {
            window.quantities.add(quantity);
        }
        let at = window
            .fingerprints
            .partition_point(|s| s.fingerprint <= summary.fingerprint);
        window.fingerprints.insert(
            at,
            Seen {
                fingerprint: summary.fingerprint,
                source_id: summary.source_id,
                placed_at: summary.placed_at,
            },
        );
    }

    /// Orders in the window (and recorded since).
    pub fn orders(&self) -> usize {
        self.window.orders
    }

    pub fn is_empty(&self) -> bool {
        self.window.orders == 0
    }

    /// The customer's usual currency and how many of their orders were in
    /// it, out of all their orders; none until one currency has
    /// [`MIN_CUSTOMER_ORDERS`] and strictly more than any other.
    fn usual_currency(&self, customer: &str) -> Option<(&str, u64, u64)> {
        let counts = self.customers.get(customer)?;
        let all: u64 = counts.values().sum();
        let mut ranked: Vec<(&str, u64)> = counts.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        match ranked.as_slice() {
            [(code, n), rest @ ..]
                if *n >= MIN_CUSTOMER_ORDERS && rest.first().is_none_or(|(_, m)| m < n) =>
            {
                Some((code, *n, all))
            }
            _ => None,
        }
    }
}

/// Every anomaly of `order` against `history`, in a fixed order: totals,
/// amounts, quantities, currency, duplicates.
pub fn check_order(order: &Value, history: &History) -> Vec<Anomaly> {
    let mut found = check_totals(order);
    let currency = currency(order);
    if let (Some(currency), Some(total)) = (currency, decimal(order.get("totalAmount")))
        && let Some(spread) = history.window.totals.get(currency.as_str())
        && let Some(fence) = spread.fence()
        && total > fence
    {
        let places = currency.minor_units();
        found.push(Anomaly {
            kind: AnomalyKind::AmountOutlier,
            field: "totalAmount".into(),
            message: format!(
                "total {} {currency} is {} the median order ({}) of the last {} {currency} orders; \
                 totals above {} are flagged",
                grouped(total, places),
                times(total, spread.median),
                grouped(spread.median, places),
                spread.sorted.len(),
                grouped(fence, places),
            ),
        });
    }
    if let Some(fence) = history.window.quantities.fence() {
        for (i, line) in lines(order).iter().enumerate() {
            if let Some(quantity) = decimal(line.get("quantity"))
                && quantity > fence
            {
                found.push(Anomaly {
                    kind: AnomalyKind::QuantityOutlier,
                    field: format!("lineItems[{i}].quantity"),
                    message: format!(
                        "quantity {} is {} the median largest line quantity ({}) of the last {} orders; \
                         quantities above {} are flagged",
                        quantity.normalize(),
                        times(quantity, history.window.quantities.median),
                        history.window.quantities.median.normalize(),
                        history.window.quantities.sorted.len(),
                        fence.round_dp(2).normalize(),
                    ),
                });
            }
        }
    }
    if let (Some(customer), Some(currency)) = (text(order.get("customerId")), currency)
        && let Some((usual, n, all)) = history.usual_currency(&customer)
        && usual != currency.as_str()
    {
        found.push(Anomaly {
            kind: AnomalyKind::UnusualCurrency,
            field: "currency".into(),
            message: format!(
                "currency {currency} differs from customer {customer}'s usual {usual} ({n} of their {all} orders)"
            ),
        });
    }
    let own_id = text(order.get("orderId")).or_else(|| text(order.get("id")));
    let placed = placed_at(order);
    let earlier = history.seen(&fingerprint(order));
    if !earlier.is_empty() {
        let mut others: Vec<&str> = earlier
            .iter()
            .filter(|s| {
                own_id.as_deref() != Some(s.source_id.as_str())
                    && match (placed, s.placed_at) {
                        (Some(a), Some(b)) => (a - b).abs() <= DUPLICATE_WITHIN,
                        _ => true,
                    }
            })
            .map(|s| s.source_id.as_str())
            .collect();
        others.sort_unstable();
        others.dedup();
        if !others.is_empty() {
            let hours = DUPLICATE_WITHIN.whole_hours();
            found.push(Anomaly {
                kind: AnomalyKind::DuplicateContent,
                field: "orderId".into(),
                message: format!(
                    "the same customer, lines and amounts as order{} {} placed within {hours} hours; \
                     only the ids and times differ",
                    if others.len() == 1 { "" } else { "s" },
                    others.join(", "),
                ),
            });
        }
    }
    found
}

/// Lines − discount + shipping + tax against the stated total, and the
/// stated subtotal against the lines, at the currency's minor unit.
/// Says nothing when the order has no valid currency, no total or a line
/// without a readable quantity and price: validation names those fields.
pub fn check_totals(order: &Value) -> Vec<Anomaly> {
    let Some(currency) = currency(order) else {
        return Vec::new();
    };
    let Some(total) = decimal(order.get("totalAmount")) else {
        return Vec::new();
    };
    let mut lines_total = Decimal::ZERO;
    for line in lines(order) {
        let (Some(quantity), Some(unit)) = (
            decimal(line.get("quantity")),
            decimal(line.get("unitPrice")),
        ) else {
            return Vec::new();
        };
        let Some(gross) = quantity.checked_mul(unit).map(|g| currency.round(g)) else {
            return Vec::new();
        };
        lines_total += gross;
    }
    let part = |key: &str| decimal(order.get(key)).map_or(Decimal::ZERO, |d| currency.round(d));
    let (discount, shipping, tax) = (
        part("discountAmount"),
        part("shippingAmount"),
        part("taxAmount"),
    );
    let places = currency.minor_units();
    let show = |d: Decimal| grouped(d, places);
    let mut found = Vec::new();
    if let Some(subtotal) = decimal(order.get("subtotalAmount"))
        && currency.round(subtotal) != lines_total
    {
        found.push(Anomaly {
            kind: AnomalyKind::TotalsMismatch,
            field: "subtotalAmount".into(),
            message: format!(
                "subtotal {} {currency} is not the lines' quantity × unit price, which add up to {}",
                show(subtotal),
                show(lines_total),
            ),
        });
    }
    let computed = lines_total - discount + shipping + tax;
    let stated = currency.round(total);
    if stated != computed {
        found.push(Anomaly {
            kind: AnomalyKind::TotalsMismatch,
            field: "totalAmount".into(),
            message: format!(
                "total {} {currency} does not add up: lines {} − discount {} + shipping {} + tax {} = {} \
                 (off by {})",
                show(total),
                show(lines_total),
                show(discount),
                show(shipping),
                show(tax),
                show(computed),
                show(stated - computed),
            ),
        });
    }
    found
}

/// A hash of the order's content that two submissions of the same order
/// share: ids, order numbers, statuses, versions and timestamps are left
/// out, numbers compare by value (`19.9` = `"19.90"`) and lines in any order.
pub fn fingerprint(order: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(order, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Keys that identify or time an order rather than say what was ordered.
const IGNORED_KEYS: &[&str] = &[
    "id",
    "orderId",
    "orderNumber",
    "number",
    "lineId",
    "status",
    "version",
    "erpReferences",
    "transactionId",
    "reference",
    "notes",
];

fn ignored(key: &str) -> bool {
    IGNORED_KEYS.contains(&key)
        || key.ends_with("Date")
        || key.ends_with("At")
        || key.ends_with("_at")
        || key.ends_with("_date")
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match decimal(Some(value)) {
            Some(d) => {
                let _ = write!(out, "#{}", d.normalize());
            }
            None => {
                let _ = write!(out, "#{n}");
            }
        },
        Value::String(s) => {
            let s = s.trim();
            match numeric_text(s) {
                Some(d) => {
                    let _ = write!(out, "#{}", d.normalize());
                }
                None => out.push_str(&Value::String(s.to_owned()).to_string()),
            }
        }
        Value::Array(items) => {
            let mut parts: Vec<String> = items
                .iter()
                .map(|item| {
                    let mut part = String::new();
                    write_canonical(item, &mut part);
                    part
                })
                .collect();
            parts.sort_unstable();
            out.push('[');
            out.push_str(&parts.join(","));
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !ignored(k)).collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// A string that is a decimal amount (`"19.90"`), read as one; a plain
/// digit string (a postal code, `"02134"`) stays text.
fn numeric_text(s: &str) -> Option<Decimal> {
    let (whole, frac) = s.strip_prefix('-').unwrap_or(s).split_once('.')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && digits(frac) {
        Decimal::from_str_exact(s).ok()
    } else {
        None
    }
}

fn lines(order: &Value) -> &[Value] {
    order
        .get("lineItems")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn currency(order: &Value) -> Option<CurrencyCode> {
    order
        .get("currency")
        .and_then(Value::as_str)
        .and_then(|c| CurrencyCode::parse(c).ok())
}

/// A customer id as summaries store it: trimmed text, a number as its
/// digits, nothing for an empty or other value.
pub fn customer_key(raw: &Value) -> Option<String> {
    text(Some(raw))
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A decimal from a JSON number or a decimal string, without passing
/// through floating point.
fn decimal(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::String(s) => {
            let s = s.trim();
            Decimal::from_str_exact(s)
                .or_else(|_| Decimal::from_scientific(s))
                .ok()
        }
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str_exact(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .ok()
        }
        _ => None,
    }
}

fn placed_at(order: &Value) -> Option<OffsetDateTime> {
    let raw = order.get("orderDate").and_then(Value::as_str)?;
    OffsetDateTime::parse(raw.trim(), &Rfc3339).ok()
}

/// `48250` at 2 places → `48,250.00`.
fn grouped(amount: Decimal, places: u32) -> String {
    let rounded = amount.round_dp(places);
    let mut text = format!("{:.*}", places as usize, rounded.abs());
    let int_end = text.find('.').unwrap_or(text.len());
    let mut at = int_end;
    while at > 3 {
        at -= 3;
        text.insert(at, ',');
    }
    if rounded.is_sign_negative() && !rounded.is_zero() {
        text.insert(0, '-');
    }
    text
}

/// `31×`, or `2.5×` below ten.
fn times(value: Decimal, median: Decimal) -> String {
    if median <= Decimal::ZERO {
        return "far above".into();
    }
    let ratio = value / median;
    if ratio >= Decimal::TEN {
        format!("{}×", ratio.round())
    } else {
        format!("{}×", ratio.round_dp(1).normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// A balanced USD order: lines (quantity, unit price) plus 5.00 shipping.
    fn order(id: &str, customer: &str, lines: &[(u32, &str)]) -> Value {
        let items: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, (q, p))| {
                json!({"lineId": format!("{id}-{i}"), "sku": format!("SKU-{i}"), "quantity": q,
                       "unitPrice": p, "tax": "0.00", "discount": "0.00"})
            })
            .collect();
        let subtotal: Decimal = lines.iter().map(|(q, p)| Decimal::from(*q) * d(p)).sum();
        json!({
            "orderId": id, "customerId": customer, "orderDate": "2024-06-01T10:00:00Z",
            "status": "processing", "currency": "USD",
            "subtotalAmount": subtotal.round_dp(2).to_string(),
            "discountAmount": "0.00", "shippingAmount": "5.00", "taxAmount": "0.00",
            "totalAmount": (subtotal + Decimal::from(5)).round_dp(2).to_string(),
            "lineItems": items,
            "createdDate": "2024-06-01T10:00:00Z", "updatedDate": "2024-06-01T10:00:00Z", "version": 1
        })
    }

    /// `n` ordinary orders from different customers and days, totals
    /// spread between 45.00 and 64.00 and one or two of each line.
    fn history_of(n: usize) -> History {
        History::from_orders((0..n).map(|i| {
            let mut o = order(
                &format!("CO-{i}"),
                &format!("CUS-{i}"),
                &[(1 + (i % 2) as u32, &format!("{}.00", 20 + i % 20))],
            );
            o["orderDate"] = json!(format!("2024-05-{:02}T10:00:00Z", 1 + i % 28));
            OrderSummary::of(&format!("CO-{i}"), &o)
        }))
    }

    fn kinds(found: &[Anomaly]) -> Vec<AnomalyKind> {
        found.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_balanced_order_against_an_empty_history_flags_nothing() {
        let o = order("CO-1", "CUS-1", &[(2, "19.99"), (1, "5.50")]);
        assert_eq!(check_order(&o, &History::default()), []);
    }

    #[test]
    fn a_total_off_by_a_cent_is_flagged_with_the_arithmetic() {
        let mut o = order("CO-1", "CUS-1", &[(2, "19.99"), (1, "5.50")]);
        o["totalAmount"] = json!("50.49");
        let found = check_order(&o, &History::default());
        assert_eq!(kinds(&found), [AnomalyKind::TotalsMismatch]);
        assert_eq!(found[0].field, "totalAmount");
        assert_eq!(
            found[0].message,
            "total 50.49 USD does not add up: lines 45.48 − discount 0.00 + shipping 5.00 + tax 0.00 \
             = 50.48 (off by 0.01)"
        );
    }

    #[test]
    fn totals_compare_at_the_minor_unit_with_discount_and_tax() {
        // 3 × 0.333 = 0.999 → 1.00; 1.00 − 0.10 + 5.00 + 0.08 = 5.98.
        let mut o = order("CO-1", "CUS-1", &[(3, "0.333")]);
        o["subtotalAmount"] = json!("1.00");
        o["discountAmount"] = json!("0.10");
        o["taxAmount"] = json!(0.08);
        o["totalAmount"] = json!("5.980");
        assert_eq!(check_totals(&o), []);
        o["totalAmount"] = json!("5.97");
        assert_eq!(kinds(&check_totals(&o)), [AnomalyKind::TotalsMismatch]);

        let mut yen = order("CO-2", "CUS-1", &[(3, "1250")]);
        yen["currency"] = json!("JPY");
        yen["shippingAmount"] = json!("500");
        yen["subtotalAmount"] = json!("3750");
        yen["totalAmount"] = json!("4250");
        assert_eq!(check_totals(&yen), []);
    }

    #[test]
    fn a_subtotal_that_is_not_the_lines_is_flagged() {
        let mut o = order("CO-1", "CUS-1", &[(2, "10.00")]);
        o["subtotalAmount"] = json!("25.00");
        let found = check_totals(&o);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "subtotalAmount");
        assert!(
            found[0].message.contains("add up to 20.00"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn totals_say_nothing_without_a_currency_or_readable_lines() {
        let mut o = order("CO-1", "CUS-1", &[(2, "10.00")]);
        o["totalAmount"] = json!("1.00");
        let mut no_currency = o.clone();
        no_currency["currency"] = json!("XYZ");
        assert_eq!(check_totals(&no_currency), []);
        o["lineItems"][0]["unitPrice"] = json!("ten");
        assert_eq!(check_totals(&o), []);
    }

    #[test]
    fn a_total_far_above_the_median_is_flagged_with_the_threshold() {
        let history = history_of(200);
        let big = order("CO-X", "CUS-X", &[(1, "48245.00")]);
        let found = check_order(&big, &history);
        assert_eq!(kinds(&found), [AnomalyKind::AmountOutlier]);
        assert_eq!(found[0].field, "totalAmount");
        let m = &found[0].message;
        assert!(
            m.starts_with("total 48,250.00 USD is ")
                && m.contains("the median order (")
                && m.contains("of the last 200 USD orders; totals above "),
            "{m}"
        );
        let normal = order("CO-Y", "CUS-Y", &[(2, "39.00")]);
        assert_eq!(check_order(&normal, &history), []);
    }

    #[test]
    fn too_little_history_says_nothing_about_outliers() {
        let history = history_of(MIN_SAMPLES - 1);
        let big = order("CO-X", "CUS-X", &[(500, "999.00")]);
        assert_eq!(check_order(&big, &history), []);
        let enough = history_of(MIN_SAMPLES);
        assert_eq!(
            kinds(&check_order(&big, &enough)),
            [AnomalyKind::AmountOutlier, AnomalyKind::QuantityOutlier]
        );
    }

    #[test]
    fn totals_are_compared_only_within_their_currency() {
        let history = history_of(100);
        let mut yen = order("CO-X", "CUS-X", &[(1, "48245")]);
        yen["currency"] = json!("JPY");
        yen["shippingAmount"] = json!("5");
        yen["subtotalAmount"] = json!("48245");
        yen["totalAmount"] = json!("48250");
        assert_eq!(check_order(&yen, &history), []);
    }

    #[test]
    fn a_line_quantity_far_above_history_names_the_line() {
        let history = history_of(50);
        let o = order("CO-X", "CUS-X", &[(1, "1.00"), (60, "0.50")]);
        let found = check_order(&o, &history);
        assert_eq!(kinds(&found), [AnomalyKind::QuantityOutlier]);
        assert_eq!(found[0].field, "lineItems[1].quantity");
        assert!(
            found[0].message.starts_with("quantity 60 is 40× the median largest line quantity (1.5) of the last 50 orders; quantities above 5.95 are flagged"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn identical_history_does_not_flag_a_slightly_larger_order() {
        // MAD is zero; the ratio floor keeps 1.5× the usual from being flagged.
        let history = History::from_orders((0..30).map(|i| {
            OrderSummary::of(
                &format!("CO-{i}"),
                &order(&format!("CO-{i}"), "C", &[(1, "95.00")]),
            )
        }));
        let o = order("CO-X", "CUS-X", &[(1, "145.00")]);
        assert!(!kinds(&check_order(&o, &history)).contains(&AnomalyKind::AmountOutlier));
        let o = order("CO-X", "CUS-X", &[(1, "395.00")]);
        assert!(kinds(&check_order(&o, &history)).contains(&AnomalyKind::AmountOutlier));
    }

    fn customer_orders(customer: &str, currencies: &[&str]) -> History {
        History::from_orders(currencies.iter().enumerate().map(|(i, c)| {
            let mut o = order(
                &format!("CO-{i}"),
                customer,
                &[(1, &format!("{}.00", 10 + i))],
            );
            o["currency"] = json!(c);
            OrderSummary::of(&format!("CO-{i}"), &o)
        }))
    }

    #[test]
    fn a_currency_other_than_the_customers_usual_one_is_flagged() {
        let history = customer_orders("CUS-1", &["USD", "USD", "USD", "EUR"]);
        let mut o = order("CO-X", "CUS-1", &[(1, "99.00")]);
        o["currency"] = json!("eur");
        let found = check_order(&o, &history);
        assert_eq!(kinds(&found), [AnomalyKind::UnusualCurrency]);
        assert_eq!(found[0].field, "currency");
        assert_eq!(
            found[0].message,
            "currency EUR differs from customer CUS-1's usual USD (3 of their 4 orders)"
        );
        o["customerId"] = json!("CUS-2");
        assert_eq!(
            check_order(&o, &history),
            [],
            "another customer has no usual currency"
        );
    }

    #[test]
    fn fewer_than_three_orders_or_a_tie_gives_no_usual_currency() {
        let mut o = order("CO-X", "CUS-1", &[(1, "99.00")]);
        o["currency"] = json!("EUR");
        assert_eq!(
            check_order(&o, &customer_orders("CUS-1", &["USD", "USD"])),
            []
        );
        assert_eq!(
            check_order(
                &o,
                &customer_orders("CUS-1", &["USD", "USD", "USD", "GBP", "GBP", "GBP"])
            ),
            []
        );
        let counted = History::new([], [("CUS-1".to_owned(), "USD".to_owned(), 12)]);
        assert_eq!(
            kinds(&check_order(&o, &counted)),
            [AnomalyKind::UnusualCurrency]
        );
    }

    #[test]
    fn a_window_built_once_checks_each_customer_like_a_history_built_for_them() {
        let window = customer_orders("CUS-1", &["USD", "USD", "USD"]);
        let counts = [("CUS-2".to_owned(), "USD".to_owned(), 7)];
        let mut o = order("CO-X", "CUS-2", &[(1, "99.00")]);
        o["currency"] = json!("EUR");
        let reused = window.with_customers(counts.clone());
        assert_eq!(
            kinds(&check_order(&o, &reused)),
            [AnomalyKind::UnusualCurrency]
        );
        // The window's own counts give way to the given ones: CUS-1's three
        // USD orders no longer make USD their usual currency.
        o["customerId"] = json!("CUS-1");
        assert_eq!(check_order(&o, &reused), []);
        assert_eq!(reused.orders(), window.orders());
    }

    #[test]
    fn the_same_content_under_another_id_is_a_duplicate() {
        let first = order("CO-1", "CUS-1", &[(2, "19.99"), (1, "5.50")]);
        let mut history = History::default();
        history.record(OrderSummary::of("CO-1", &first));

        let mut again = first.clone();
        again["orderId"] = json!("CO-2");
        again["orderDate"] = json!("2024-06-01T10:03:00Z");
        again["createdDate"] = json!("2024-06-01T10:03:00Z");
        again["version"] = json!(7);
        again["status"] = json!("pending");
        // Lines in another order, ids renumbered, amounts written differently.
        let items = again["lineItems"].as_array().unwrap().clone();
        again["lineItems"] = json!([items[1].clone(), items[0].clone()]);
        again["lineItems"][0]["lineId"] = json!("X");
        again["lineItems"][1]["unitPrice"] = json!(19.99);
        again["shippingAmount"] = json!("5.0");
        assert_eq!(fingerprint(&again), fingerprint(&first));

        let found = check_order(&again, &history);
        assert_eq!(kinds(&found), [AnomalyKind::DuplicateContent]);
        assert!(
            found[0]
                .message
                .contains("as order CO-1 placed within 24 hours"),
            "{}",
            found[0].message
        );

        assert_eq!(
            check_order(&first, &history),
            [],
            "the same order again is not its own duplicate"
        );

        let mut other_customer = again.clone();
        other_customer["customerId"] = json!("CUS-2");
        assert_eq!(check_order(&other_customer, &history), []);

        let mut next_month = again.clone();
        next_month["orderDate"] = json!("2024-07-01T10:00:00Z");
        assert_eq!(
            check_order(&next_month, &history),
            [],
            "a repeat order a month later"
        );
    }

    #[test]
    fn every_earlier_copy_in_the_window_is_named_once() {
        let copy = |id: &str| order(id, "CUS-1", &[(2, "19.99")]);
        let mut window: Vec<OrderSummary> = ["CO-3", "CO-1", "CO-2"]
            .iter()
            .map(|id| OrderSummary::of(id, &copy(id)))
            .collect();
        // Other content around them, on both sides of their fingerprint.
        window.extend((0..40).map(|i| {
            let id = format!("CO-OTHER-{i}");
            OrderSummary::of(&id, &order(&id, "CUS-2", &[(1, &format!("{i}.00"))]))
        }));
        let mut history = History::from_orders(window);
        history.record(OrderSummary::of("CO-1", &copy("CO-1")));
        let found = check_order(&copy("CO-4"), &history);
        assert_eq!(kinds(&found), [AnomalyKind::DuplicateContent]);
        assert!(
            found[0]
                .message
                .contains("as orders CO-1, CO-2, CO-3 placed"),
            "{}",
            found[0].message
        );
        let found = check_order(&copy("CO-2"), &history);
        assert!(
            found[0].message.contains("as orders CO-1, CO-3 placed"),
            "{}",
            found[0].message
        );
        let other = order("CO-OTHER-X", "CUS-2", &[(1, "7.00")]);
        assert_eq!(
            kinds(&check_order(&other, &history)),
            [AnomalyKind::DuplicateContent]
        );
        assert_eq!(
            check_order(&order("CO-5", "CUS-3", &[(1, "7.00")]), &history),
            []
        );
    }

    #[test]
    fn fingerprints_keep_postal_codes_as_text() {
        let a = json!({"shippingAddress": {"postalCode": "02134"}});
        let b = json!({"shippingAddress": {"postalCode": "2134"}});
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let c = json!({"totalAmount": "10.50"});
        let e = json!({"totalAmount": 10.5});
        assert_eq!(fingerprint(&c), fingerprint(&e));
    }

    #[test]
    fn numbers_are_grouped_for_people() {
        assert_eq!(grouped(d("48250"), 2), "48,250.00");
        assert_eq!(grouped(d("1550.5"), 2), "1,550.50");
        assert_eq!(grouped(d("999"), 0), "999");
        assert_eq!(grouped(d("-1234567.891"), 3), "-1,234,567.891");
        assert_eq!(times(d("48250"), d("1550")), "31×");
        assert_eq!(times(d("3.2"), d("1")), "3.2×");
    }

    #[test]
    fn anomaly_kinds_have_stable_names() {
        let names: Vec<&str> = AnomalyKind::ALL.iter().map(AnomalyKind::as_str).collect();
        assert_eq!(
            names,
            [
                "totals_mismatch",
                "quantity_outlier",
                "amount_outlier",
                "unusual_currency",
                "duplicate_content"
            ]
        );
        assert_eq!(
            serde_json::to_value(AnomalyKind::AmountOutlier).unwrap(),
            "amount_outlier"
        );
    }

    fn money(max_cents: i64) -> impl Strategy<Value = Decimal> {
        (0..max_cents).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        /// Selecting the median gives what sorting does, odd or even.
        #[test]
        fn the_selected_median_is_the_sorted_one(
            cents in prop::collection::vec(-1_000_000i64..1_000_000, 0..60),
        ) {
            let mut values: Vec<Decimal> = cents.iter().map(|c| Decimal::new(*c, 2)).collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            prop_assert_eq!(median_of_unsorted(&mut values), median_of_sorted(&sorted));
        }

        /// An order whose total is what its parts add up to never flags
        /// totals, whatever the history holds (including itself).
        #[test]
        fn a_balanced_order_never_flags_totals(
            lines in prop::collection::vec((1u32..50, 0i64..1_000_000, 0u32..4), 1..8),
            discount in money(5_000),
            shipping in money(5_000),
            tax in money(5_000),
            past in prop::collection::vec((1u32..50, 0i64..1_000_000), 0..40),
        ) {
            let items: Vec<Value> = lines.iter().enumerate().map(|(i, (q, cents, places))| {
                // Unit prices with up to 3 extra decimals, as Clarity allows.
                let unit = Decimal::new(*cents * 10i64.pow(*places), 2 + places);
                json!({"lineId": i.to_string(), "sku": format!("S{i}"), "quantity": q, "unitPrice": unit.to_string()})
            }).collect();
            let usd = CurrencyCode::parse("USD").unwrap();
            let subtotal: Decimal = lines.iter().map(|(q, cents, _)| usd.round(Decimal::from(*q) * Decimal::new(*cents, 2))).sum();
            let total = subtotal - discount + shipping + tax;
            let o = json!({
                "orderId": "CO-P", "customerId": "CUS-P", "currency": "USD", "lineItems": items,
                "subtotalAmount": subtotal.to_string(), "discountAmount": discount.to_string(),
                "shippingAmount": shipping.to_string(), "taxAmount": tax.to_string(),
                "totalAmount": total.to_string(),
            });
            let mut history = History::from_orders(past.iter().enumerate().map(|(i, (q, cents))| {
                let p = order(&format!("H{i}"), "CUS-P", &[(*q, &Decimal::new(*cents, 2).to_string())]);
                OrderSummary::of(&format!("H{i}"), &p)
            }));
            history.record(OrderSummary::of("CO-P", &o));
            let found = check_order(&o, &history);
            prop_assert!(!kinds(&found).contains(&AnomalyKind::TotalsMismatch), "{found:?}");
        }
    }
}
