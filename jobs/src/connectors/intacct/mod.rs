//! Sage Intacct over the XML gateway (`/ia/xml/xmlgw.phtml`), written from
//! `shared/specs/sage-intacct.md`.
//!
//! - [`client`]: the connector ([`IntacctClient`]): sessions, the idempotent
//!   sales-order create, look-ups by reference.
//! - [`classify`]: how Intacct's answers become [`super::ConnectorError`]s.
//! - [`wire`]: the fixed XML shapes as serde types, shared with the sandbox simulator.
//! - [`element`]: a small XML tree for the open-ended shapes (generic objects, records).

pub mod classify;
pub mod client;
pub mod element;
pub mod wire;

pub use client::{IntacctClient, IntacctConfig};
pub use wire::{DateParts, SoTransItem, SoTransaction, Subtotal};
