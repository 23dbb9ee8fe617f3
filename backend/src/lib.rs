//! Clarity Connect control plane: configuration, tenants and users, pairs and
//! their encrypted connections, the web UI and JSON API, the sandbox
//! simulators, and the workers that run the data plane's flows.
//!
//! One order's path reads top to bottom: [`hooks`] (signed webhook) →
//! [`inbox`] (durable, deduplicated) → queue → [`worker`] (lease, flow,
//! outcome) → `connect_jobs::flows::orders` (ledger, mapping, connector).

pub mod api;
pub mod audit;
pub mod auth;
pub mod catalogs;
pub mod cli;
pub mod clients;
pub mod config;
pub mod db;
pub mod egress;
pub mod error;
pub mod history;
pub mod hooks;
pub mod ids;
pub mod pairs;
pub mod preview;
pub mod rates;
pub mod revisions;
pub mod runs;
pub mod sandbox;
pub mod server;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod template_store;
pub mod templates;
pub mod tenants;
pub mod usage;
pub mod vault;
pub mod web;
