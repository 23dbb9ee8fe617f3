//! Money that moves after the order: payments received and refunds on
//! returns.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::newtypes::{CanonicalError, CurrencyCode, Money, Sku};
use super::order::Order;
use super::{required_id, text};
use crate::connectors::clarity::wire;

/// Money received for an order: an ERP cash receipt, or a GL batch into
/// undeposited funds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub order_id: String,
    pub method: String,
    pub amount: Money,
    #[serde(with = "time::serde::rfc3339::option")]
    pub captured_at: Option<OffsetDateTime>,
    /// The gateway's transaction id, the receipt's reference in the ERP.
    pub reference: Option<String>,
}

impl Payment {
    /// The payment an order records, once its money has been captured. An
    /// authorization, or an order on terms, has received nothing yet, and a
    /// receipt written for it would overstate cash.
    pub fn captured_for(order: &Order) -> Option<Payment> {
        let p = &order.payment;
        p.captured_at.map(|at| Payment {
            order_id: order.id.clone(),
            method: p.method.clone(),
            amount: p.amount,
            captured_at: Some(at),
            reference: p.reference.clone(),
        })
    }
}

/// Goods coming back, and the money going back for them: a credit memo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Return {
    pub id: String,
    pub order_id: String,
    pub customer_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub lines: Vec<ReturnLine>,
    pub refund: Money,
    /// The gateway's refund id, once the money has gone back.
    pub refund_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnLine {
    /// The order line's id.
    pub line_id: String,
    pub sku: Option<Sku>,
    pub quantity: Decimal,
    /// This line's part of the refund, when the store says.
    pub refund: Option<Money>,
    /// Whether the goods go back into stock.
    pub restock: bool,
    pub condition: Option<String>,
}

impl TryFrom<&wire::Return> for Return {
    type Error = CanonicalError;

    fn try_from(r: &wire::Return) -> Result<Self, CanonicalError> {
        let currency = CurrencyCode::parse(&r.currency)?;
        let lines = r
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| return_line(line, currency, &format!("lines[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Return {
            id: required_id("returnId", &r.return_id)?,
            order_id: required_id("orderId", &r.order_id)?,
            customer_id: required_id("customerId", &r.customer_id)?,
            status: required_id("status", &r.status)?,
            reason: text(r.reason.as_ref()),
            lines,
            refund: Money::new(r.refund_amount, currency).map_err(|e| e.at("refundAmount"))?,
            refund_reference: text(r.refund_transaction_id.as_ref()),
        })
    }
}

fn return_line(
    line: &wire::ReturnLine,
    currency: CurrencyCode,
    path: &str,
) -> Result<ReturnLine, CanonicalError> {
    if line.quantity <= Decimal::ZERO {
        return Err(CanonicalError::new(
            format!("{path}.quantity"),
            format!("{} is not a positive quantity", line.quantity),
        ));
    }
    Ok(ReturnLine {
        line_id: required_id(&format!("{path}.lineId"), &line.line_id)?,
        sku: text(line.sku.as_ref())
            .map(|sku| Sku::parse(&sku).map_err(|e| e.at(format!("{path}.sku"))))
            .transpose()?,
        quantity: line.quantity.normalize(),
        refund: line
            .refund_amount
            .map(|amount| {
                Money::new(amount, currency).map_err(|e| e.at(format!("{path}.refundAmount")))
            })
            .transpose()?,
        restock: line.restock,
        condition: text(line.condition.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::order::{Address, CustomerRef, Line, OrderStatus, PaymentSummary};
    use time::macros::datetime;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn kwd(amount: &str) -> Money {
        Money::new(dec(amount), CurrencyCode::parse("KWD").unwrap()).unwrap()
    }

    fn order(captured_at: Option<OffsetDateTime>) -> Order {
        Order {
            id: "CO-7".into(),
            number: "CO-7".into(),
            placed_at: datetime!(2024-06-01 09:00 UTC),
            status: OrderStatus::Processing,
            currency: CurrencyCode::parse("KWD").unwrap(),
            customer: CustomerRef {
                id: "CUS-1".into(),
                email: None,
            },
            billing_address: Address::default(),
            shipping_address: Address::default(),
            lines: vec![Line {
                id: "1".into(),
                sku: Sku::parse("SKU-1").unwrap(),
                product_id: None,
                name: None,
                quantity: dec("1"),
                unit_price: kwd("12.125"),
                discount: kwd("0"),
                tax: kwd("0"),
            }],
            shipping: kwd("0"),
            discount: kwd("0"),
            tax: kwd("0"),
            total: kwd("12.125"),
            payment: PaymentSummary {
                method: "credit_card".into(),
                status: "captured".into(),
                amount: kwd("12.125"),
                reference: Some("ch_1".into()),
                gateway: None,
                captured_at,
                po_number: None,
                terms: None,
            },
            coupon_code: None,
            channel: None,
            store: None,
            campaign: None,
        }
    }

    #[test]
    fn a_captured_order_has_a_payment_and_an_authorized_one_has_none() {
        let at = datetime!(2024-06-01 09:00:03 UTC);
        let payment = Payment::captured_for(&order(Some(at))).unwrap();
        assert_eq!(payment.order_id, "CO-7");
        assert_eq!(payment.amount.to_string(), "12.125 KWD");
        assert_eq!(payment.reference.as_deref(), Some("ch_1"));
        let json = serde_json::to_value(&payment).unwrap();
        assert_eq!(json["capturedAt"], "2024-06-01T09:00:03Z");
        assert_eq!(json["amount"]["amount"], "12.125");
        assert_eq!(serde_json::from_value::<Payment>(json).unwrap(), payment);

        assert_eq!(Payment::captured_for(&order(None)), None);
    }

    fn clarity_return() -> wire::Return {
        wire::Return {
            return_id: "RMA-9".into(),
            order_id: "CO-100045".into(),
            customer_id: "CUS-5001".into(),
            status: "received".into(),
            reason: Some("damaged".into()),
            lines: vec![wire::ReturnLine {
                line_id: "1".into(),
                sku: Some("SKU-1001".into()),
                quantity: dec("1"),
                refund_amount: Some(dec("19.99")),
                restock: false,
                condition: Some("damaged".into()),
            }],
            refund_amount: dec("21.64"),
            currency: "USD".into(),
            refund_transaction_id: None,
            version: 2,
            created_date: "2024-06-05T12:00:00Z".into(),
            updated_date: "2024-06-06T12:00:00Z".into(),
        }
    }

    #[test]
    fn a_clarity_return_converts_with_its_refunds_as_money() {
        let r = Return::try_from(&clarity_return()).unwrap();
        assert_eq!(r.refund.to_string(), "21.64 USD");
        assert_eq!(r.lines[0].refund.unwrap().to_string(), "19.99 USD");
        assert!(!r.lines[0].restock);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["orderId"], "CO-100045");
        assert_eq!(json["lines"][0]["lineId"], "1");
        assert_eq!(serde_json::from_value::<Return>(json).unwrap(), r);
    }

    #[test]
    fn a_return_value_that_does_not_parse_names_its_field() {
        type Breaks = fn(&mut wire::Return);
        let cases: [(Breaks, &str); 4] = [
            (|r| r.refund_amount = dec("21.645"), "refundAmount"),
            (
                |r| r.lines[0].refund_amount = Some(dec("0.001")),
                "lines[0].refundAmount",
            ),
            (
                |r| r.lines[0].sku = Some(" ".repeat(3) + "\u{0}"),
                "lines[0].sku",
            ),
            (|r| r.currency = "USDT".into(), "currency"),
        ];
        for (breaks, field) in cases {
            let mut r = clarity_return();
            breaks(&mut r);
            assert_eq!(Return::try_from(&r).unwrap_err().field(), field);
        }
    }
}
