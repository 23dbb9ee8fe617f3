//! Connector clients for a pair, built from its decrypted connections: the
//! one place that turns a [`Connection`] into a Clarity, Intacct or Sage Pro
//! client. The sync engine keeps a pair's [`PairClients`] between records;
//! a connection test builds one client for one call.

pub mod routed;

use std::sync::Arc;

use connect_jobs::connectors::CallGate;
use connect_jobs::connectors::clarity::{ClarityClient, ClarityConfig};
use connect_jobs::connectors::intacct::{IntacctClient, IntacctConfig};
use connect_jobs::connectors::sagepro::{SageProClient, SageProConfig};
use connect_jobs::egress::EgressPolicy;
use connect_jobs::flows::ErpTarget;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::state::AppState;
use routed::RoutedClients;

/// Where a connection's calls may go.
#[derive(Debug, Clone)]
pub enum Reach {
    /// This process's own simulator (sandbox pairs): the shared client.
    Simulator,
    /// A URL a user gave: a client whose resolver enforces the policy.
    Egress(EgressPolicy),
}

/// A decrypted connection (`crate::pairs::connections::load`), for the
/// engine and the connection test only.
#[derive(Clone)]
pub struct Connection {
    pub system: String,
    pub base_url: String,
    pub settings: Map<String, Value>,
    pub secrets: Map<String, Value>,
    pub webhook_id: Option<String>,
    pub updated_at: i64,
    /// Where its calls may go: the built-in simulator, or public addresses.
    pub reach: Reach,
}

/// Kept beside `webhook_secret` (encrypted like it) while a rotation overlaps.
pub const PREVIOUS_SECRET: &str = "previous_webhook_secret";
pub const PREVIOUS_UNTIL: &str = "previous_webhook_secret_until";

impl Connection {
    pub fn setting(&self, name: &str) -> String {
        self.settings
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn secret(&self, name: &str) -> SecretString {
        SecretString::from(
            self.secrets
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )
    }

    pub fn webhook_secret(&self) -> Option<String> {
        self.secrets
            .get("webhook_secret")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The secrets a delivery may be signed with at `now_ms`: the current one
    /// and, during a rotation's overlap, the one before it.
    pub fn webhook_secrets(&self, now_ms: i64) -> Vec<String> {
        valid_at(&self.signing_secrets(), now_ms)
    }

    /// Every secret a delivery may be signed with, and until when (`None`:
    /// the current one, for as long as it is saved).
    pub fn signing_secrets(&self) -> Vec<(String, Option<i64>)> {
        let previous = self
            .secrets
            .get(PREVIOUS_SECRET)
            .and_then(Value::as_str)
            .zip(self.secrets.get(PREVIOUS_UNTIL).and_then(Value::as_i64));
        self.webhook_secret()
            .map(|s| (s, None))
            .into_iter()
            .chain(previous.map(|(s, until)| (s.to_owned(), Some(until))))
            .collect()
    }

    /// The same connection, aimed at another Intacct entity or Sage Pro
    /// company (a record's `_route`).
    fn routed_to(&self, to: &str) -> Self {
        let mut routed = self.clone();
        let key = if self.system == "intacct" {
            "entity_id"
        } else {
            "company"
        };
        routed
            .settings
            .insert(key.into(), Value::String(to.to_owned()));
        routed
    }
}

/// Of [`Connection::signing_secrets`], those still accepted at `now_ms`.
pub fn valid_at(secrets: &[(String, Option<i64>)], now_ms: i64) -> Vec<String> {
    secrets
        .iter()
        .filter(|(_, until)| until.is_none_or(|until| now_ms < until))
        .map(|(s, _)| s.clone())
        .collect()
}

/// The HTTP client for a connection: the shared one for this process's own
/// simulator, else one whose resolver enforces the pair's policy.
fn http_for(state: &AppState, c: &Connection) -> reqwest::Client {
    match &c.reach {
        Reach::Simulator => state.http.clone(),
        Reach::Egress(policy) => connect_jobs::egress::client(policy, state.http_timeouts()),
    }
}

/// What the flows read and write in Clarity (spec §1's scopes).
const SYNC_SCOPES: &[&str] = &[
    "orders:read",
    "orders:write",
    "products:read",
    "products:write",
    "customers:read",
    "customers:write",
    "inventory:read",
    "inventory:write",
    "shipments:write",
    "returns:read",
    "returns:write",
    "webhooks:manage",
];

pub fn clarity(state: &AppState, c: &Connection, gate: Arc<dyn CallGate>) -> ClarityClient {
    ClarityClient::new(
        ClarityConfig {
            base_url: c.base_url.clone(),
            client_id: c.setting("client_id"),
            client_secret: c.secret("client_secret"),
            api_path: "/api/v1".to_owned(),
            token_path: "/oauth/token".to_owned(),
            scopes: SYNC_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        },
        http_for(state, c),
        gate,
    )
}

pub fn intacct(state: &AppState, c: &Connection, gate: Arc<dyn CallGate>) -> IntacctClient {
    let entity = c.setting("entity_id");
    let client = IntacctClient::new(
        IntacctConfig {
            endpoint_url: c.base_url.clone(),
            sender_id: c.setting("sender_id"),
            sender_password: c.secret("sender_password"),
            company_id: c.setting("company_id"),
            user_id: c.setting("user_id"),
            user_password: c.secret("user_password"),
            entity_id: (!entity.is_empty()).then_some(entity),
        },
        http_for(state, c),
        gate,
    )
    .with_write_batch(state.config.intacct_write_batch);
    // Checked when the connection was saved; a zone no longer known reads as UTC.
    match connect_jobs::connectors::intacct::time_zone(&c.setting("timezone")) {
        Ok(zone) => client.with_time_zone(zone),
        Err(_) => client,
    }
}

pub fn sagepro(state: &AppState, c: &Connection, gate: Arc<dyn CallGate>) -> SageProClient {
    let company = c.setting("company");
    SageProClient::new(
        SageProConfig {
            base_url: c.base_url.clone(),
            api_key: c.secret("api_key"),
            company: (!company.is_empty()).then_some(company),
        },
        http_for(state, c),
        gate,
    )
}

/// The ERP client for an ERP connection (`intacct` or `sagepro`).
pub fn erp(state: &AppState, c: &Connection, gate: Arc<dyn CallGate>) -> ErpTarget {
    if c.system == "intacct" {
        ErpTarget::Intacct(intacct(state, c, gate))
    } else {
        ErpTarget::Sagepro(sagepro(state, c, gate))
    }
}

/// A pair's clients, kept by the engine between records so tokens and
/// sessions are reused; a changed connection replaces the whole set.
pub struct PairClients {
    pub clarity: ClarityClient,
    pub erp: ErpTarget,
    /// Clients for the other Intacct entities or Sage Pro companies the
    /// pair's records are routed to, built on first use.
    pub routed: RoutedClients<ErpTarget>,
}

impl PairClients {
    /// Every call goes through `gate` (the tenant's limiter and meter).
    pub fn build(
        state: &AppState,
        clarity: &Connection,
        erp: Connection,
        gate: Arc<dyn CallGate>,
    ) -> Self {
        let routed = {
            let (state, gate, erp) = (state.clone(), gate.clone(), erp.clone());
            RoutedClients::new(move |to: &str| self::erp(&state, &erp.routed_to(to), gate.clone()))
        };
        Self {
            clarity: self::clarity(state, clarity, gate.clone()),
            erp: self::erp(state, &erp, gate),
            routed,
        }
    }
}
