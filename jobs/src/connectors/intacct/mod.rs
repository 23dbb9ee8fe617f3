//! Sage Intacct over the XML gateway (`/ia/xml/xmlgw.phtml`), written from
//! `shared/specs/sage-intacct.md`.
//!
//! - [`client`]: the connector ([`IntacctClient`]): sessions, the envelope and
//!   the batch call (several functions per request, optionally one transaction).
//! - [`functions`]: the functions it sends and what they return.
//! - [`writes`]: sales-order create/update, generic create/update/delete.
//! - [`reads`]: read, readByQuery + readMore and query paged to the end,
//!   inventory levels, WHENMODIFIED deltas.
//! - [`classify`]: how Intacct's answers become [`super::ConnectorError`]s.
//! - [`wire`]: the fixed XML shapes as serde types, shared with the sandbox simulator.
//! - [`element`]: a small XML tree for the open-ended shapes (generic objects, records).

pub mod classify;
pub mod client;
mod coalesce;
pub mod element;
pub mod functions;
pub mod reads;
pub mod wire;
pub mod writes;

pub use client::{BatchMode, IntacctClient, IntacctConfig, MAX_FUNCTIONS_PER_REQUEST, time_zone};
pub use functions::{ApiFunction, Data, Done, Object, Record, SoLineUpdate, SoUpdate};
pub use reads::{Checkpoint, InventoryLevel};
pub use wire::{
    ArAdjustment, ArAdjustmentItems, ArAdjustmentLine, DateParts, SoTransItem, SoTransaction,
    Subtotal,
};
pub use writes::Created;
