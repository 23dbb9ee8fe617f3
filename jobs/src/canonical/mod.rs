//! The canonical model: the records every flow passes between a store and an
//! ERP, whatever the two systems call their fields.
//!
//! A source connector's wire type is converted here once, with `TryFrom`,
//! and every value that has rules is parsed on the way in ([`newtypes`]):
//! a SKU, a currency code, money at its currency's scale, GL accounts and
//! dimension ids. A value that does not parse stops the conversion with a
//! [`CanonicalError`] naming the source field (`lineItems[2].unitPrice`), so
//! the record becomes a dead letter that says what to fix, before mapping.
//!
//! - [`order`]: orders with their lines, addresses, customers and contacts;
//! - [`stock`]: products, inventory levels and shipments;
//! - [`money_flow`]: payments and returns.
//!
//! The records serialize as camelCase JSON, the shape the mapping templates
//! read.

pub mod money_flow;
pub mod newtypes;
pub mod order;
pub mod stock;

pub use money_flow::{Payment, Return, ReturnLine};
pub use newtypes::{CanonicalError, CurrencyCode, DimensionId, GlAccount, Money, Sku};
pub use order::{
    Address, Contact, ContactRole, Customer, CustomerRef, Line, Order, OrderStatus, PaymentSummary,
    TotalsMismatch,
};
pub use stock::{InventoryLevel, Product, Shipment, ShipmentLine};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An RFC 3339 timestamp from a source record.
fn timestamp(field: &str, raw: &str) -> Result<OffsetDateTime, CanonicalError> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|e| {
        CanonicalError::new(field, format!("{raw:?} is not an RFC 3339 timestamp: {e}"))
    })
}

fn optional_timestamp(
    field: &str,
    raw: Option<&String>,
) -> Result<Option<OffsetDateTime>, CanonicalError> {
    text(raw).map(|t| timestamp(field, &t)).transpose()
}

/// A source record's own id, which every later step keys on.
fn required_id(field: &str, raw: &str) -> Result<String, CanonicalError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(CanonicalError::new(field, "is empty"));
    }
    Ok(id.to_owned())
}

/// Free text, trimmed; blank is absent, so templates test one thing.
fn text(raw: Option<&String>) -> Option<String> {
    raw.map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
