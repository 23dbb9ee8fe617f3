//! Orders, their lines and addresses, and the customers who place them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::newtypes::{CanonicalError, CurrencyCode, Money, Sku};
use super::{optional_timestamp, required_id, text, timestamp};
use crate::connectors::clarity::wire;

/// A store order, as every flow to an ERP sees it.
///
/// All amounts are in [`Order::currency`]. There is no stored subtotal: it
/// is [`Order::lines_total`], so a subtotal that disagrees with its lines
/// shows up in [`Order::check_totals`] instead of being copied along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The source system's id, the key of the ledger entry.
    pub id: String,
    /// The number people quote (on invoices, in support mail).
    pub number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    pub status: OrderStatus,
    pub currency: CurrencyCode,
    pub customer: CustomerRef,
    pub billing_address: Address,
    pub shipping_address: Address,
    pub lines: Vec<Line>,
    pub shipping: Money,
    /// Every discount on the order, line discounts included (as Clarity
    /// reports `discountAmount`).
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
    pub payment: PaymentSummary,
    pub coupon_code: Option<String>,
    pub channel: Option<String>,
    pub store: Option<String>,
    pub campaign: Option<String>,
}

/// One order line. Its `discount` and `tax` are this line's share; both are
/// also counted in the order's `discount` and `tax`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub id: String,
    pub sku: Sku,
    pub product_id: Option<String>,
    pub name: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Money,
    pub discount: Money,
    pub tax: Money,
}

impl Line {
    /// `quantity × unit price`, rounded half away from zero to the minor
    /// unit (a fractional quantity can give sub-cent products).
    pub fn gross(&self) -> Result<Money, CanonicalError> {
        self.quantity
            .checked_mul(self.unit_price.amount())
            .map(|amount| Money::rounded(amount, self.unit_price.currency()))
            .ok_or_else(|| CanonicalError::new("quantity", "quantity × unit price is out of range"))
    }

    /// [`Line::gross`] less the line's discount, tax excluded: Clarity's
    /// `lineTotal`.
    pub fn net(&self) -> Result<Money, CanonicalError> {
        self.gross()?
            .checked_sub(self.discount)
            .map_err(|e| e.at("discount"))
    }
}

/// The order's stages, Clarity's list (spec §3.1); the ERP's are reached
/// through each template's status map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Processing,
    OnHold,
    PartiallyShipped,
    Shipped,
    Completed,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        Self::Pending,
        Self::Processing,
        Self::OnHold,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Completed,
        Self::Cancelled,
        Self::Refunded,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::OnHold => "on_hold",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, CanonicalError> {
        let text = raw.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(Self::as_str).collect();
                CanonicalError::new(
                    "status",
                    format!("{text:?} is not an order status ({})", known.join(", ")),
                )
            })
    }
}

impl FromStr for OrderStatus {
    type Err = CanonicalError;
    fn from_str(raw: &str) -> Result<Self, CanonicalError> {
        Self::parse(raw)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who placed the order: the source's customer id, resolved to an ERP
/// customer through the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRef {
    pub id: String,
    pub email: Option<String>,
}

/// How the order was paid, as far as the order says; the cash receipt
/// itself is a [`super::Payment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSummary {
    pub method: String,
    pub status: String,
    pub amount: Money,
    /// The gateway's transaction id.
    pub reference: Option<String>,
    pub gateway: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub captured_at: Option<OffsetDateTime>,
    pub po_number: Option<String>,
    pub terms: Option<String>,
}

/// A postal address. Fields are trimmed, blank ones absent; standardizing
/// countries, regions and postal codes is the mapping's job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub line3: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub name: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub currency: Option<CurrencyCode>,
    pub tax_exempt: bool,
    pub price_group: Option<String>,
    pub status: String,
    pub contacts: Vec<Contact>,
}

/// A person or address a customer is reached at. ERPs keep these as
/// separate contact records referenced by role (Intacct's display, bill-to
/// and ship-to contacts), so the canonical customer does too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub role: ContactRole,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContactRole {
    Primary,
    BillTo,
    ShipTo,
}

/// The stated total is not what the order's parts add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TotalsMismatch {
    /// `total` − (lines − discount + shipping + tax); both sides are at the
    /// currency's minor unit, so any non-zero difference is a real one.
    Unbalanced {
        computed: Money,
        stated: Money,
        difference: Money,
    },
    /// An amount is in another currency than the order, so nothing adds up.
    Currency(CanonicalError),
}

impl TotalsMismatch {
    /// Stated minus computed, when the amounts could be compared at all.
    pub fn difference(&self) -> Option<Money> {
        match self {
            Self::Unbalanced { difference, .. } => Some(*difference),
            Self::Currency(_) => None,
        }
    }
}

impl fmt::Display for TotalsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbalanced {
                computed,
                stated,
                difference,
            } => write!(
                f,
                "total: {stated} differs by {difference} from lines − discount + shipping + tax = {computed}"
            ),
            Self::Currency(e) => e.fmt(f),
        }
    }
}

impl Order {
    /// The subtotal: every line's [`Line::gross`] added up, before discounts,
    /// shipping and tax.
    pub fn lines_total(&self) -> Result<Money, CanonicalError> {
        self.lines
            .iter()
            .enumerate()
            .try_fold(Money::zero(self.currency), |sum, (i, line)| {
                let at = |e: CanonicalError| e.at(format!("lines[{i}].unitPrice"));
                sum.checked_add(line.gross().map_err(at)?).map_err(at)
            })
    }

    /// Checks `lines_total − discount + shipping + tax == total`, exactly, at
    /// the currency's minor unit.
    pub fn check_totals(&self) -> Result<(), TotalsMismatch> {
        let computed = self.computed_total().map_err(TotalsMismatch::Currency)?;
        let difference = self
            .total
            .checked_sub(computed)
            .map_err(|e| TotalsMismatch::Currency(e.at("total")))?;
        if difference.is_zero() {
            Ok(())
        } else {
            Err(TotalsMismatch::Unbalanced {
                computed,
                stated: self.total,
                difference,
            })
        }
    }

    fn computed_total(&self) -> Result<Money, CanonicalError> {
        self.lines_total()?
            .checked_sub(self.discount)
            .map_err(|e| e.at("discount"))?
            .checked_add(self.shipping)
            .map_err(|e| e.at("shipping"))?
            .checked_add(self.tax)
            .map_err(|e| e.at("tax"))
    }
}

impl TryFrom<&wire::Order> for Order {
    type Error = CanonicalError;

    /// Errors name Clarity's field (`lineItems[1].sku`). The order's stated
    /// `subtotalAmount` and each `lineTotal` are not kept: they are recomputed
    /// from the lines, and [`Order::check_totals`] tells when they disagree.
    fn try_from(o: &wire::Order) -> Result<Self, CanonicalError> {
        let id = required_id("orderId", &o.order_id)?;
        let currency = CurrencyCode::parse(&o.currency).map_err(|e| e.at("currency"))?;
        let money = |field: &str, amount| Money::new(amount, currency).map_err(|e| e.at(field));
        let lines = o
            .line_items
            .iter()
            .enumerate()
            .map(|(i, line)| line_from_wire(line, currency, &format!("lineItems[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let p = &o.payment_info;
        let payment = PaymentSummary {
            method: required_id("paymentInfo.method", &p.method)?,
            status: required_id("paymentInfo.status", &p.status)?,
            amount: money("paymentInfo.amount", p.amount)?,
            reference: text(p.transaction_id.as_ref()),
            gateway: text(p.gateway.as_ref()),
            captured_at: optional_timestamp("paymentInfo.capturedAt", p.captured_at.as_ref())?,
            po_number: text(p.po_number.as_ref()),
            terms: text(p.terms.as_ref()),
        };
        Ok(Order {
            // Clarity has one identifier, which is also the number shoppers see.
            number: id.clone(),
            id,
            placed_at: timestamp("orderDate", &o.order_date)?,
            status: OrderStatus::parse(&o.status)?,
            currency,
            customer: CustomerRef {
                id: required_id("customerId", &o.customer_id)?,
                email: text(o.email.as_ref()),
            },
            billing_address: Address::from(&o.billing_address),
            shipping_address: Address::from(&o.shipping_address),
            lines,
            shipping: money("shippingAmount", o.shipping_amount)?,
            discount: money("discountAmount", o.discount_amount)?,
            tax: money("taxAmount", o.tax_amount)?,
            total: money("totalAmount", o.total_amount)?,
            payment,
            coupon_code: text(o.coupon_code.as_ref()),
            channel: text(o.channel.as_ref()),
            store: None,
            campaign: None,
        })
    }
}

fn line_from_wire(
    line: &wire::LineItem,
    currency: CurrencyCode,
    path: &str,
) -> Result<Line, CanonicalError> {
    let money = |field: &str, amount| {
        Money::new(amount, currency).map_err(|e| e.at(format!("{path}.{field}")))
    };
    if line.quantity <= Decimal::ZERO {
        return Err(CanonicalError::new(
            format!("{path}.quantity"),
            format!("{} is not a positive quantity", line.quantity),
        ));
    }
    Ok(Line {
        id: required_id(&format!("{path}.lineId"), &line.line_id)?,
        sku: Sku::parse(&line.sku).map_err(|e| e.at(format!("{path}.sku")))?,
        product_id: text(line.product_id.as_ref()),
        name: text(line.name.as_ref()),
        quantity: line.quantity.normalize(),
        unit_price: money("unitPrice", line.unit_price)?,
        discount: money("discount", line.discount)?,
        tax: money("tax", line.tax)?,
    })
}

impl From<&wire::Address> for Address {
    fn from(a: &wire::Address) -> Self {
        Address {
            name: full_name(a.first_name.as_ref(), a.last_name.as_ref()),
            company: text(a.company.as_ref()),
            line1: text(a.line1.as_ref()),
            line2: text(a.line2.as_ref()),
            line3: None,
            city: text(a.city.as_ref()),
            region: text(a.region.as_ref()),
            postal_code: text(a.postal_code.as_ref()),
            country: text(a.country.as_ref()),
            phone: text(a.phone.as_ref()),
            email: text(a.email.as_ref()),
        }
    }
}

/// "First Last", or whichever of the two is there.
fn full_name(first: Option<&String>, last: Option<&String>) -> Option<String> {
    match (text(first), text(last)) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    }
}

impl TryFrom<&wire::Customer> for Customer {
    type Error = CanonicalError;

    /// Clarity keeps the customer's own details and addresses on the record;
    /// they become a primary contact, a bill-to contact and one ship-to
    /// contact per shipping address.
    fn try_from(c: &wire::Customer) -> Result<Self, CanonicalError> {
        let name = full_name(c.first_name.as_ref(), c.last_name.as_ref());
        let email = text(Some(&c.email));
        let phone = text(c.phone.as_ref());
        let mut contacts = vec![Contact {
            role: ContactRole::Primary,
            name: name.clone(),
            email: email.clone(),
            phone: phone.clone(),
            address: None,
        }];
        let addressed = |role, a: &wire::Address| {
            let address = Address::from(a);
            Contact {
                role,
                name: address.name.clone().or_else(|| name.clone()),
                email: address.email.clone().or_else(|| email.clone()),
                phone: address.phone.clone().or_else(|| phone.clone()),
                address: Some(address),
            }
        };
        contacts.extend(
            c.billing_address
                .iter()
                .map(|a| addressed(ContactRole::BillTo, a)),
        );
        contacts.extend(
            c.shipping_addresses
                .iter()
                .map(|a| addressed(ContactRole::ShipTo, a)),
        );
        Ok(Customer {
            id: required_id("customerId", &c.customer_id)?,
            company: text(c.company.as_ref()),
            currency: text(c.currency.as_ref())
                .map(|code| CurrencyCode::parse(&code))
                .transpose()?,
            tax_exempt: c.tax_exempt,
            price_group: text(c.price_group.as_ref()),
            status: required_id("status", &c.status)?,
            name,
            email,
            phone,
            contacts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn address() -> wire::Address {
        wire::Address {
            first_name: Some("Jane".into()),
            last_name: Some(" Doe ".into()),
            company: Some("".into()),
            line1: Some("1 Main St".into()),
            line2: Some("Suite 200".into()),
            city: Some("Austin".into()),
            region: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: Some("US".into()),
            phone: Some("+1 512 555 0100".into()),
            email: None,
        }
    }

    fn wire_line(
        id: &str,
        sku: &str,
        qty: &str,
        unit: &str,
        discount: &str,
        tax: &str,
    ) -> wire::LineItem {
        let gross = dec(qty) * dec(unit);
        wire::LineItem {
            line_id: id.into(),
            sku: sku.into(),
            product_id: Some(format!("P-{id}")),
            name: Some(format!("Item {id}")),
            quantity: dec(qty),
            unit_price: dec(unit),
            tax: dec(tax),
            discount: dec(discount),
            line_total: gross - dec(discount),
        }
    }

    /// Two lines with a 10 % coupon, shipping and 8.25 % sales tax:
    /// 45.48 − 4.55 + 9.95 + 3.38 = 54.26.
    fn clarity_order() -> wire::Order {
        wire::Order {
            order_id: "CO-100045".into(),
            customer_id: "CUS-5001".into(),
            order_date: "2024-06-01T09:58:12Z".into(),
            status: "processing".into(),
            currency: "usd".into(),
            subtotal_amount: dec("45.48"),
            discount_amount: dec("4.55"),
            shipping_amount: dec("9.95"),
            tax_amount: dec("3.38"),
            total_amount: dec("54.26"),
            email: Some("jane@example.com".into()),
            channel: Some("web".into()),
            shipping_address: address(),
            billing_address: wire::Address {
                line2: None,
                ..address()
            },
            line_items: vec![
                wire_line("1", " SKU-1001 ", "2", "19.99", "4.00", "2.97"),
                wire_line("2", "SKU-2002", "1", "5.50", "0.55", "0.41"),
            ],
            payment_info: wire::PaymentInfo {
                method: "credit_card".into(),
                status: "captured".into(),
                amount: dec("54.26"),
                transaction_id: Some("ch_3PabcXYZ".into()),
                gateway: Some("stripe".into()),
                card_brand: Some("visa".into()),
                last4: Some("4242".into()),
                po_number: None,
                terms: None,
                captured_at: Some("2024-06-01T09:58:15Z".into()),
            },
            coupon_code: Some("SUMMER10".into()),
            erp_references: serde_json::Map::new(),
            notes: None,
            version: 3,
            created_date: "2024-06-01T09:58:12Z".into(),
            updated_date: "2024-06-01T10:00:01Z".into(),
        }
    }

    fn convert(o: &wire::Order) -> Result<Order, CanonicalError> {
        Order::try_from(o)
    }

    #[test]
    fn a_clarity_order_converts_with_every_value_parsed() {
        let order = convert(&clarity_order()).unwrap();
        assert_eq!(order.id, "CO-100045");
        assert_eq!(order.number, "CO-100045");
        assert_eq!(order.placed_at, datetime!(2024-06-01 09:58:12 UTC));
        assert_eq!(order.status, OrderStatus::Processing);
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.customer.id, "CUS-5001");
        assert_eq!(order.customer.email.as_deref(), Some("jane@example.com"));
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].sku.as_str(), "SKU-1001");
        assert_eq!(order.lines[0].unit_price.to_string(), "19.99 USD");
        assert_eq!(order.lines[1].discount.to_string(), "0.55 USD");
        assert_eq!(order.shipping.to_string(), "9.95 USD");
        assert_eq!(order.total.to_string(), "54.26 USD");
        assert_eq!(order.payment.reference.as_deref(), Some("ch_3PabcXYZ"));
        assert_eq!(
            order.payment.captured_at,
            Some(datetime!(2024-06-01 09:58:15 UTC))
        );
        assert_eq!(order.coupon_code.as_deref(), Some("SUMMER10"));
        assert_eq!(order.channel.as_deref(), Some("web"));

        let ship = &order.shipping_address;
        assert_eq!(ship.name.as_deref(), Some("Jane Doe"));
        assert_eq!(ship.company, None, "blank is absent");
        assert_eq!(ship.line2.as_deref(), Some("Suite 200"));
        assert_eq!(order.billing_address.line2, None);

        assert_eq!(order.lines_total().unwrap().to_string(), "45.48 USD");
        assert_eq!(order.lines[0].net().unwrap().to_string(), "35.98 USD");
        assert_eq!(order.check_totals(), Ok(()));
    }

    #[test]
    fn a_value_that_does_not_parse_names_its_clarity_field() {
        type Breaks = fn(&mut wire::Order);
        let cases: [(Breaks, &str, &str); 10] = [
            (|o| o.order_id = " ".into(), "orderId", "is empty"),
            (
                |o| o.currency = "XYZ".into(),
                "currency",
                "not an active ISO 4217",
            ),
            (
                |o| o.order_date = "01/06/2024".into(),
                "orderDate",
                "not an RFC 3339",
            ),
            (
                |o| o.status = "lost".into(),
                "status",
                "not an order status",
            ),
            (
                |o| o.line_items[1].sku = "".into(),
                "lineItems[1].sku",
                "is empty",
            ),
            (
                |o| o.line_items[0].unit_price = dec("19.999"),
                "lineItems[0].unitPrice",
                "more decimals than USD",
            ),
            (
                |o| o.line_items[0].quantity = dec("0"),
                "lineItems[0].quantity",
                "not a positive quantity",
            ),
            (
                |o| o.tax_amount = dec("3.375"),
                "taxAmount",
                "more decimals",
            ),
            (
                |o| o.payment_info.amount = dec("54.261"),
                "paymentInfo.amount",
                "more decimals",
            ),
            (
                |o| o.payment_info.captured_at = Some("yesterday".into()),
                "paymentInfo.capturedAt",
                "not an RFC 3339",
            ),
        ];
        for (breaks, field, why) in cases {
            let mut o = clarity_order();
            breaks(&mut o);
            let e = convert(&o).unwrap_err();
            assert_eq!(e.field(), field, "{e}");
            assert!(e.reason().contains(why), "{e}");
        }
    }

    #[test]
    fn a_yen_order_has_no_minor_unit() {
        let mut o = clarity_order();
        o.currency = "JPY".into();
        let e = convert(&o).unwrap_err();
        assert_eq!(e.field(), "lineItems[0].unitPrice");
        assert!(e.reason().contains("JPY allows: whole units only"), "{e}");

        o.line_items = vec![wire_line("1", "SKU-1", "3", "1250", "0", "375")];
        (o.discount_amount, o.shipping_amount, o.tax_amount) = (dec("0"), dec("500"), dec("375"));
        o.total_amount = dec("4625");
        o.payment_info.amount = dec("4625");
        let order = convert(&o).unwrap();
        assert_eq!(order.lines_total().unwrap().to_string(), "3750 JPY");
        assert_eq!(order.check_totals(), Ok(()));
    }

    #[test]
    fn check_totals_catches_a_one_cent_mismatch() {
        let mut o = clarity_order();
        o.total_amount = dec("54.27");
        let order = convert(&o).unwrap();
        let mismatch = order.check_totals().unwrap_err();
        assert_eq!(mismatch.difference().unwrap().to_string(), "0.01 USD");
        let TotalsMismatch::Unbalanced {
            computed, stated, ..
        } = &mismatch
        else {
            panic!("{mismatch}");
        };
        assert_eq!(computed.to_string(), "54.26 USD");
        assert_eq!(stated.to_string(), "54.27 USD");
        assert!(
            mismatch
                .to_string()
                .starts_with("total: 54.27 USD differs by 0.01 USD")
        );

        let mut short = convert(&clarity_order()).unwrap();
        short.lines[1].quantity = dec("2");
        assert_eq!(
            short
                .check_totals()
                .unwrap_err()
                .difference()
                .unwrap()
                .to_string(),
            "-5.50 USD"
        );
    }

    #[test]
    fn a_fractional_quantity_is_rounded_half_away_from_zero_in_the_subtotal() {
        let mut order = convert(&clarity_order()).unwrap();
        order.lines.truncate(1);
        order.lines[0].quantity = dec("1.25");
        order.lines[0].unit_price = Money::new(dec("2.99"), order.currency).unwrap();
        // 1.25 × 2.99 = 3.7375
        assert_eq!(order.lines_total().unwrap().amount(), dec("3.74"));
    }

    #[test]
    fn amounts_in_another_currency_cannot_balance() {
        let mut order = convert(&clarity_order()).unwrap();
        let eur = CurrencyCode::parse("EUR").unwrap();
        order.lines[1].unit_price = Money::new(dec("5.50"), eur).unwrap();
        let TotalsMismatch::Currency(e) = order.check_totals().unwrap_err() else {
            panic!("a currency error");
        };
        assert_eq!(e.field(), "lines[1].unitPrice");
        assert_eq!(
            order.lines_total().unwrap_err().field(),
            "lines[1].unitPrice"
        );
    }

    #[test]
    fn an_order_serializes_as_camel_case_and_reads_back_the_same() {
        let order = convert(&clarity_order()).unwrap();
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["placedAt"], "2024-06-01T09:58:12Z");
        assert_eq!(json["status"], "processing");
        assert_eq!(json["shippingAddress"]["postalCode"], "78701");
        assert_eq!(
            json["lines"][0]["unitPrice"],
            serde_json::json!({"amount": "19.99", "currency": "USD"})
        );
        assert_eq!(json["lines"][0]["productId"], "P-1");
        assert_eq!(json["payment"]["capturedAt"], "2024-06-01T09:58:15Z");
        assert_eq!(json["couponCode"], "SUMMER10");
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), order);
    }

    #[test]
    fn a_canonical_order_with_a_bad_sku_is_refused_when_read() {
        let mut json = serde_json::to_value(convert(&clarity_order()).unwrap()).unwrap();
        json["lines"][1]["sku"] = serde_json::json!("SKU\u{200B}2");
        let e = serde_json::from_value::<Order>(json).unwrap_err();
        assert!(
            e.to_string().contains("sku:") && e.to_string().contains("U+200B"),
            "{e}"
        );
    }

    #[test]
    fn order_statuses_parse_case_insensitively_and_name_the_known_ones() {
        assert_eq!(
            "On_Hold".parse::<OrderStatus>().unwrap(),
            OrderStatus::OnHold
        );
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let e = OrderStatus::parse("lost").unwrap_err();
        assert!(e.reason().contains("partially_shipped"), "{e}");
    }

    #[test]
    fn a_clarity_customer_becomes_primary_bill_to_and_ship_to_contacts() {
        let c = wire::Customer {
            customer_id: "CUS-5001".into(),
            email: "jane@example.com".into(),
            first_name: Some("Jane".into()),
            last_name: Some("Doe".into()),
            company: Some("Doe Outfitters".into()),
            phone: None,
            billing_address: Some(address()),
            shipping_addresses: vec![
                address(),
                wire::Address {
                    first_name: Some("Dock".into()),
                    last_name: None,
                    phone: None,
                    ..address()
                },
            ],
            tax_exempt: true,
            price_group: Some("wholesale".into()),
            currency: Some("cad".into()),
            status: "active".into(),
            erp_references: serde_json::Map::new(),
            version: 1,
            created_date: "2024-01-01T00:00:00Z".into(),
            updated_date: "2024-01-01T00:00:00Z".into(),
        };
        let customer = Customer::try_from(&c).unwrap();
        assert_eq!(customer.currency.unwrap().as_str(), "CAD");
        let roles: Vec<ContactRole> = customer.contacts.iter().map(|c| c.role).collect();
        use ContactRole::*;
        assert_eq!(roles, [Primary, BillTo, ShipTo, ShipTo]);
        assert_eq!(customer.contacts[0].name.as_deref(), Some("Jane Doe"));
        assert_eq!(customer.contacts[3].name.as_deref(), Some("Dock"));
        assert_eq!(customer.contacts[3].phone, None);
        assert_eq!(
            customer.contacts[3].email.as_deref(),
            Some("jane@example.com")
        );

        let bad = wire::Customer {
            currency: Some("dollars".into()),
            ..c
        };
        assert_eq!(Customer::try_from(&bad).unwrap_err().field(), "currency");
    }
}
