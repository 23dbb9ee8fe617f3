//! The state every handler and worker shares.

use std::sync::Arc;

use connect_jobs::queue::JobQueue;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::db::Db;
use crate::sandbox::SandboxState;
use crate::vault::Vault;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub vault: Vault,
    pub queue: JobQueue,
    /// Outbound limits per (tenant, system); shared through Redis when the queue is.
    pub limiter: Arc<dyn connect_jobs::limits::Limiter>,
    pub sandbox: SandboxState,
    /// ERP catalogs and master data per pair, for SKU resolution and validation.
    pub catalogs: crate::catalogs::CatalogCache,
    pub metrics: PrometheusHandle,
    /// For connectors: no redirects, bounded timeouts.
    pub http: reqwest::Client,
    /// Where users and peers reach us, without a trailing slash.
    pub public_url: String,
    /// Mail to users: SMTP, or the outbox table.
    pub mailer: crate::mail::Mailer,
    /// Turns a tenant's period into a statement (built in: invoice).
    pub billing: Box<dyn crate::billing::statement::BillingProvider>,
    /// Woken each time a worker of this process has finished with an inbox
    /// row, whatever the outcome: tests and tools wait on it instead of
    /// polling.
    pub work_done: tokio::sync::Notify,
    /// Each pair's Clarity webhook secrets with their expiry, decrypted once
    /// per revision of the pair's inputs (a saved or rotated secret moves it).
    pub webhook_secrets: crate::revisions::Cached<WebhookSecrets>,
}

/// A pair's webhook secrets, each with the epoch ms it is accepted until
/// (`None`: the current one).
pub type WebhookSecrets = Arc<[(String, Option<i64>)]>;

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The timeouts of every outbound call, from `CONNECT_HTTP_TIMEOUT_MS`.
    pub fn http_timeouts(&self) -> connect_jobs::connectors::http::Timeouts {
        http_timeouts(&self.config)
    }
}

pub fn http_timeouts(config: &Config) -> connect_jobs::connectors::http::Timeouts {
    connect_jobs::connectors::http::Timeouts {
        connect: std::time::Duration::from_secs(5).min(config.http_timeout),
        total: config.http_timeout,
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
