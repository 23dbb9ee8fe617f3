//! What is sold and where it is: products, inventory levels, shipments.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::newtypes::{CanonicalError, CurrencyCode, Money, Sku};
use super::{optional_timestamp, required_id, text, timestamp};
use crate::connectors::clarity::wire;

/// A catalog item, matched to an ERP item by its SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub sku: Sku,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    pub status: String,
    pub taxable: bool,
    pub weight: Option<Decimal>,
    pub weight_unit: Option<String>,
    pub categories: Vec<String>,
}

/// The stock of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryLevel {
    pub sku: Sku,
    pub location: String,
    pub on_hand: Decimal,
    /// On hand less what open orders hold.
    pub available: Decimal,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Goods that left for one order, with the carrier's tracking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub id: String,
    pub order_id: String,
    pub carrier: String,
    pub service: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    pub status: String,
    pub lines: Vec<ShipmentLine>,
}

/// How much of one order line shipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentLine {
    /// The order line's id.
    pub line_id: String,
    pub sku: Option<Sku>,
    pub quantity: Decimal,
}

impl TryFrom<&wire::Product> for Product {
    type Error = CanonicalError;

    fn try_from(p: &wire::Product) -> Result<Self, CanonicalError> {
        let currency = CurrencyCode::parse(&p.currency)?;
        // Clarity sends the weight as a JSON number; its shortest decimal
        // text is what the merchant typed, where a binary conversion of the
        // float would add digits (0.1 → 0.1000000000000000055…).
        let weight = p
            .weight
            .map(|w| {
                Decimal::from_str(&w.to_string())
                    .map_err(|_| CanonicalError::new("weight", format!("{w} is not a weight")))
            })
            .transpose()?;
        Ok(Product {
            id: required_id("productId", &p.product_id)?,
            sku: Sku::parse(&p.sku)?,
            name: required_id("name", &p.name)?,
            description: text(p.description.as_ref()),
            price: Money::new(p.price, currency).map_err(|e| e.at("price"))?,
            status: required_id("status", &p.status)?,
            taxable: p.taxable,
            weight,
            weight_unit: text(p.weight_unit.as_ref()),
            categories: p.categories.iter().filter_map(|c| text(Some(c))).collect(),
        })
    }
}

impl TryFrom<&wire::InventoryRecord> for InventoryLevel {
    type Error = CanonicalError;

    fn try_from(r: &wire::InventoryRecord) -> Result<Self, CanonicalError> {
        Ok(InventoryLevel {
            sku: Sku::parse(&r.sku)?,
            location: required_id("locationId", &r.location_id)?,
            on_hand: r.quantity_on_hand.normalize(),
            available: r.quantity_available.normalize(),
            updated_at: timestamp("updatedDate", &r.updated_date)?,
        })
    }
}

impl TryFrom<&wire::Shipment> for Shipment {
    type Error = CanonicalError;

    fn try_from(s: &wire::Shipment) -> Result<Self, CanonicalError> {
        let lines = s
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let path = format!("lines[{i}]");
                if line.quantity <= Decimal::ZERO {
                    return Err(CanonicalError::new(
                        format!("{path}.quantity"),
                        format!("{} is not a positive quantity", line.quantity),
                    ));
                }
                Ok(ShipmentLine {
                    line_id: required_id(&format!("{path}.lineId"), &line.line_id)?,
                    sku: text(line.sku.as_ref())
                        .map(|sku| Sku::parse(&sku).map_err(|e| e.at(format!("{path}.sku"))))
                        .transpose()?,
                    quantity: line.quantity.normalize(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Shipment {
            id: required_id("shipmentId", &s.shipment_id)?,
            order_id: required_id("orderId", &s.order_id)?,
            carrier: required_id("carrier", &s.carrier)?,
            service: text(s.service.as_ref()),
            tracking_number: text(s.tracking_number.as_ref()),
            tracking_url: text(s.tracking_url.as_ref()),
            shipped_at: optional_timestamp("shippedDate", s.shipped_date.as_ref())?,
            status: required_id("status", &s.status)?,
            lines,
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

    fn product() -> wire::Product {
        wire::Product {
            product_id: "P-1001".into(),
            sku: "SKU-1001".into(),
            name: "Widget".into(),
            description: Some("  ".into()),
            price: dec("19.99"),
            currency: "GBP".into(),
            status: "active".into(),
            taxable: true,
            weight: Some(0.1),
            weight_unit: Some("kg".into()),
            categories: vec!["Tools".into(), " ".into()],
            tags: serde_json::Map::new(),
            erp_references: serde_json::Map::new(),
            version: 1,
            created_date: "2024-01-01T00:00:00Z".into(),
            updated_date: "2024-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_clarity_product_converts_with_its_price_in_its_currency() {
        let p = Product::try_from(&product()).unwrap();
        assert_eq!(p.sku.as_str(), "SKU-1001");
        assert_eq!(p.price.to_string(), "19.99 GBP");
        assert_eq!(p.description, None);
        assert_eq!(
            p.weight,
            Some(dec("0.1")),
            "the typed weight, not the float's binary value"
        );
        assert_eq!(p.categories, ["Tools"]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["weightUnit"], "kg");
        assert_eq!(serde_json::from_value::<Product>(json).unwrap(), p);
    }

    #[test]
    fn a_product_value_that_does_not_parse_names_its_field() {
        type Breaks = fn(&mut wire::Product);
        let cases: [(Breaks, &str); 4] = [
            (|p| p.sku = "\u{7}".into(), "sku"),
            (|p| p.currency = "pounds".into(), "currency"),
            (|p| p.price = dec("19.995"), "price"),
            (|p| p.weight = Some(f64::NAN), "weight"),
        ];
        for (breaks, field) in cases {
            let mut p = product();
            breaks(&mut p);
            assert_eq!(Product::try_from(&p).unwrap_err().field(), field);
        }
    }

    #[test]
    fn an_inventory_record_keeps_fractional_quantities_exactly() {
        let r = wire::InventoryRecord {
            sku: "SKU-1001".into(),
            location_id: "WH-1".into(),
            quantity_on_hand: dec("12.500"),
            quantity_reserved: dec("2"),
            quantity_available: dec("10.5"),
            backorderable: false,
            version: 4,
            updated_date: "2024-06-01T10:00:00+02:00".into(),
        };
        let level = InventoryLevel::try_from(&r).unwrap();
        assert_eq!(level.on_hand.to_string(), "12.5");
        assert_eq!(level.available, dec("10.5"));
        assert_eq!(level.updated_at, datetime!(2024-06-01 08:00:00 UTC));
        let json = serde_json::to_value(&level).unwrap();
        assert_eq!(json["onHand"], "12.5");
        assert_eq!(json["location"], "WH-1");

        let blank = wire::InventoryRecord {
            location_id: "".into(),
            ..r
        };
        assert_eq!(
            InventoryLevel::try_from(&blank).unwrap_err().field(),
            "locationId"
        );
    }

    #[test]
    fn a_shipment_converts_and_names_the_line_that_does_not_parse() {
        let mut s = wire::Shipment {
            shipment_id: "SH-1".into(),
            order_id: "CO-100045".into(),
            carrier: "UPS".into(),
            service: Some("Ground".into()),
            tracking_number: Some("1Z999AA10123456784".into()),
            tracking_url: None,
            shipped_date: Some("2024-06-02T15:00:00Z".into()),
            lines: vec![
                wire::ShipmentLine {
                    line_id: "1".into(),
                    sku: Some("SKU-1001".into()),
                    quantity: dec("2"),
                },
                wire::ShipmentLine {
                    line_id: "2".into(),
                    sku: None,
                    quantity: dec("1"),
                },
            ],
            status: "shipped".into(),
            created_date: "2024-06-02T15:00:00Z".into(),
        };
        let shipment = Shipment::try_from(&s).unwrap();
        assert_eq!(
            shipment.shipped_at,
            Some(datetime!(2024-06-02 15:00:00 UTC))
        );
        assert_eq!(shipment.lines[0].sku.as_ref().unwrap().as_str(), "SKU-1001");
        assert_eq!(shipment.lines[1].sku, None);
        let json = serde_json::to_value(&shipment).unwrap();
        assert_eq!(json["trackingNumber"], "1Z999AA10123456784");
        assert_eq!(json["lines"][0]["lineId"], "1");

        s.lines[1].quantity = dec("-1");
        assert_eq!(
            Shipment::try_from(&s).unwrap_err().field(),
            "lines[1].quantity"
        );
        s.lines[1].quantity = dec("1");
        s.lines[0].sku = Some("SKU\u{FEFF}".into());
        assert_eq!(Shipment::try_from(&s).unwrap_err().field(), "lines[0].sku");
        s.lines[0].sku = None;
        s.shipped_date = Some("2024-06-02".into());
        assert_eq!(Shipment::try_from(&s).unwrap_err().field(), "shippedDate");
    }
}
