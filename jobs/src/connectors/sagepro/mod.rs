//! Sage Pro ERP through its bridge REST API (spec `specs/sage-pro.md`): the
//! client the flows use and the wire types it shares with the simulator.
//!
//! Error mapping. Transient (Retry-After kept): 409 `RECORD_LOCKED` →
//! `RecordLocked`; 409 `IDEMPOTENCY_IN_PROGRESS` and 429 → `RateLimited`;
//! 503 → `Unavailable`; other 5xx → `Server`; transport timeouts → `Timeout`.
//! Permanent, naming the record and `Details[0].Field`: 400, 409 `DUPLICATE`,
//! 412 and every 422 (`VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REUSED`,
//! `INVALID_STATE`) → `Validation`; 401/403 → `Auth`; 404 → `NotFound`.

mod client;
pub mod wire;

pub use client::{SageProClient, SageProConfig, SalesOrderCreated, error_for_response};
