//! Sage Pro ERP through its bridge REST API (spec `specs/sage-pro.md`): the
//! client the flows use and the wire types it shares with the simulator.
//!
//! Error mapping: 401/403 → `Auth`; 404 → `NotFound`; 409 `RECORD_LOCKED` →
//! `RecordLocked` (with Retry-After); 409 `IDEMPOTENCY_IN_PROGRESS` →
//! `RateLimited` (retry after 1 s unless told); 422 `VALIDATION_FAILED` →
//! `Validation` naming `Details[0].Field`; other 4xx → `Refused`; 429 →
//! `RateLimited`; 5xx → `Server`; transport timeouts → `Timeout`.

mod client;
pub mod wire;

pub use client::{SageProClient, SageProConfig, SalesOrderCreated};
