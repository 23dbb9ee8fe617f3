//! Clarity Connect control plane: configuration, tenants and users, pairs and
//! their encrypted connections, the web UI and JSON API, the mounting of the
//! sandbox simulators (crate `connect-sandbox`), and the workers that run the
//! data plane's flows.
//!
//! One order's path reads top to bottom: [`hooks`] (signed webhook) →
//! [`inbox`] (durable, deduplicated) → queue → [`worker`] (lease, flow,
//! outcome) → `connect_jobs::flows::orders` (ledger, mapping, connector).

pub mod api;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod catalogs;
pub mod cli;
pub mod clients;
pub mod config;
/// The database handle lives in its own crate so that the sandbox can share it
/// without depending on this one; `crate::db::…` paths keep working.
pub use connect_store as db;
pub mod egress;
pub mod error;
pub mod fleet;
pub mod history;
pub mod hooks;
pub mod ids;
pub mod mail;
pub mod notices;
pub mod onboarding;
pub mod pairs;
pub mod preview;
pub mod rates;
pub mod revisions;
pub mod runs;
/// The simulators are their own crate (they depend on no web or engine code);
/// `crate::sandbox::…` paths keep working.
pub use connect_sandbox as sandbox;
pub mod sandbox_standalone;
pub mod server;
pub mod startup;
pub mod state;
pub mod sync;
pub mod team;
pub mod telemetry;
pub mod template_store;
pub mod templates;
pub mod tenants;
pub mod usage;
pub mod vault;
pub mod web;
