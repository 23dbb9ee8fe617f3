//! Clarity eCommerce (spec `specs/clarity.md`): the REST client the flows use,
//! the wire types it shares with the sandbox simulator, and the webhook
//! signature scheme the webhook receiver verifies.

mod client;
pub mod signature;
pub mod wire;

pub use client::{ClarityClient, ClarityConfig, ListQuery, WebhookSubscription};
pub use wire::Page;
