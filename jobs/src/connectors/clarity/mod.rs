//! Clarity eCommerce (spec `specs/clarity.md`): the REST client the flows use,
//! the wire types it shares with the sandbox simulator, and the webhook
//! signature scheme the webhook receiver verifies.

mod client;
mod listing;
mod resources;
mod rotation;
pub mod signature;
pub mod wire;

pub use client::{ClarityClient, ClarityConfig, Created, ListQuery, WebhookSubscription};
pub use listing::{CHECKPOINT_OVERLAP, Changes, Cursor};
pub use rotation::ROTATION_OVERLAP;
pub use wire::Page;
