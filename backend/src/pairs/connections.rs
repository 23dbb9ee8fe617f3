//! A pair's connections to Clarity and its ERP. Secrets go into the vault and
//! never come back out through the API, a page or a log line: summaries say
//! which secrets are saved, never what they are.
//!
//! A sandbox pair's connection to its own simulator is stored as [`BUILTIN`],
//! not as a URL: the address is built from where this process listens each
//! time a client is made, so no typed or stored URL string decides that the
//! platform may call itself. Any URL a user gives, on any pair, goes through
//! the production egress policy.

use std::sync::Arc;

use connect_jobs::connectors::{CallGate, ConnectorError, System};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;

use super::{Environment, Erp};
use crate::audit;
use crate::auth::Principal;
use crate::clients::{self, Connection, PREVIOUS_SECRET, PREVIOUS_UNTIL, Reach};
use crate::db::now_ms;
use crate::egress::url_check;
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::sandbox::SandboxCredentials;
use crate::state::AppState;
use crate::usage::TenantGate;
use crate::vault::Sealed;

/// Events a pair subscribes to at Clarity.
pub const WEBHOOK_EVENTS: [&str; 10] = [
    "order.created",
    "order.updated",
    "order.cancelled",
    "order.paid",
    "customer.created",
    "customer.updated",
    "product.updated",
    "inventory.updated",
    "return.created",
    "return.refunded",
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionSummary {
    pub system: String,
    pub configured: bool,
    /// For the built-in simulator, the address it is reached at.
    pub base_url: Option<String>,
    /// The sandbox's own simulator of this system, reached inside this process.
    pub builtin: bool,
    /// Non-secret settings (client id, sender id, company id, …).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Names of the secrets saved, e.g. `["client_secret", "webhook_secret"]`.
    pub saved_secrets: Vec<String>,
    pub webhook_registered: bool,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_detail: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConnectionInput {
    /// A public http(s) URL, or on a sandbox pair its own simulator: the
    /// simulator's URL as `GET /api/v1/pairs/{id}` shows it, or `builtin:simulator`.
    pub base_url: String,
    #[schema(value_type = Object)]
    pub credentials: Map<String, Value>,
}

/// What a system needs: (name, secret?, required?).
pub fn fields(system: &str) -> &'static [(&'static str, bool, bool)] {
    match system {
        "clarity" => &[
            ("client_id", false, true),
            ("client_secret", true, true),
            ("webhook_secret", true, false),
        ],
        "intacct" => &[
            ("sender_id", false, true),
            ("sender_password", true, true),
            ("company_id", false, true),
            ("user_id", false, true),
            ("user_password", true, true),
            ("entity_id", false, false),
            // The company's time zone (IANA): Intacct's timestamps carry none.
            ("timezone", false, false),
        ],
        "sagepro" => &[("api_key", true, true), ("company", false, false)],
        _ => &[],
    }
}

/// Non-secret settings and secrets of one connection, kept apart.
pub type Split = (Map<String, Value>, Map<String, Value>);

/// Splits credentials into (settings, secrets), naming the first bad field.
pub fn split_credentials(system: &str, creds: &Map<String, Value>) -> Result<Split, ApiError> {
    let spec = fields(system);
    if let Some(unknown) = creds.keys().find(|k| !spec.iter().any(|(n, _, _)| n == k)) {
        let known: Vec<&str> = spec.iter().map(|(n, _, _)| *n).collect();
        return Err(ApiError::invalid(
            &format!("credentials.{unknown}"),
            format!(
                "is not a {system} credential (expected {})",
                known.join(", ")
            ),
        ));
    }
    let mut settings = Map::new();
    let mut secrets = Map::new();
    for (name, secret, required) in spec {
        match creds.get(*name) {
            None | Some(Value::Null) if *required => {
                return Err(ApiError::invalid(
                    &format!("credentials.{name}"),
                    "is required",
                ));
            }
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().is_empty() && *required => {
                return Err(ApiError::invalid(
                    &format!("credentials.{name}"),
                    "must not be empty",
                ));
            }
            Some(Value::String(s)) if s.len() > 1024 => {
                return Err(ApiError::invalid(
                    &format!("credentials.{name}"),
                    "must be at most 1024 characters",
                ));
            }
            Some(Value::String(s)) if *name == "timezone" => {
                connect_jobs::connectors::intacct::time_zone(s)
                    .map_err(|why| ApiError::invalid("credentials.timezone", why))?;
                settings.insert((*name).to_owned(), Value::String(s.trim().to_owned()));
            }
            Some(Value::String(s)) => {
                let target = if *secret { &mut secrets } else { &mut settings };
                target.insert((*name).to_owned(), Value::String(s.trim().to_owned()));
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    &format!("credentials.{name}"),
                    "must be a string",
                ));
            }
        }
    }
    Ok((settings, secrets))
}

pub async fn summaries(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Vec<ConnectionSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.system, c.base_url, c.settings, c.secret_names, c.webhook_id, c.last_test_at, \
                c.last_test_ok, c.last_test_detail, p.environment \
         FROM connections c JOIN pairs p ON p.id = c.pair_id AND p.tenant_id = c.tenant_id \
         WHERE c.tenant_id = $1 AND c.pair_id = $2 ORDER BY c.system",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let names: String = r.get(3);
            let system: String = r.get(0);
            let stored: String = r.get(1);
            let environment = Environment::parse(&r.get::<String, _>(8));
            let builtin = environment == Some(Environment::Sandbox)
                && is_builtin(state, &stored, &system, pair_id);
            ConnectionSummary {
                base_url: Some(if builtin {
                    simulator_url(&state.sandbox.self_url, &system, pair_id)
                } else {
                    stored
                }),
                builtin,
                system,
                configured: true,
                settings: serde_json::from_str(&r.get::<String, _>(2)).unwrap_or(Value::Null),
                saved_secrets: names
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                webhook_registered: r.get::<Option<String>, _>(4).is_some_and(|w| w != "manual"),
                last_test_at: r.get(5),
                last_test_ok: r.get::<Option<i64>, _>(6).map(|v| v != 0),
                last_test_detail: r.get(7),
            }
        })
        .collect())
}

/// What a sandbox pair's connection stores for its own simulator.
pub const BUILTIN: &str = "builtin:simulator";

/// Where a pair's built-in simulator of `system` answers, under `base` (this
/// process's own address).
pub fn simulator_url(base: &str, system: &str, pair_id: &PairId) -> String {
    format!("{base}{}", simulator_path(system, pair_id))
}

fn simulator_path(system: &str, pair_id: &PairId) -> String {
    match system {
        "intacct" => format!("/sandbox/intacct/{pair_id}/ia/xml/xmlgw.phtml"),
        "sagepro" => format!("/sandbox/sagepro/{pair_id}/api/v1/sagepro"),
        _ => format!("/sandbox/clarity/{pair_id}"),
    }
}

/// Whether a sandbox pair's base URL names the pair's own simulator of
/// `system`: [`BUILTIN`], or the simulator's path on this product (its
/// public host, or loopback as connections saved before [`BUILTIN`] held).
/// Only the intent is read from the string; where the calls go is built from
/// this process's address, so a host or port in it is never used.
fn is_builtin(state: &AppState, raw: &str, system: &str, pair_id: &PairId) -> bool {
    let raw = raw.trim();
    if raw == BUILTIN {
        return true;
    }
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    if url.path().trim_end_matches('/') != simulator_path(system, pair_id)
        || url.query().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    let ours = |base: &str| {
        url::Url::parse(base).ok().is_some_and(|b| {
            b.host() == url.host() && b.port_or_known_default() == url.port_or_known_default()
        })
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    loopback || ours(&state.public_url) || ours(&state.sandbox.self_url)
}

/// What the connections table holds for this connection's address.
fn stored_url(c: &Connection) -> &str {
    match c.reach {
        Reach::Simulator => BUILTIN,
        Reach::Egress(_) => &c.base_url,
    }
}

/// Why a saved connection could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading the connection: {0}")]
    Store(#[from] sqlx::Error),
    #[error("decrypting the connection: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("the connection's secrets are not a JSON object: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Store(e) => e.into(),
            LoadError::Vault(e) => e.into(),
            LoadError::Corrupt(e) => ApiError::Internal(e.into()),
        }
    }
}

/// A pair's saved connection to `system`, decrypted; `None` when there is
/// none.
pub async fn load(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    system: &str,
) -> Result<Option<Connection>, LoadError> {
    let row = sqlx::query(
        "SELECT c.base_url, c.settings, c.secret_ciphertext, c.secret_nonce, c.data_key_id, \
                c.updated_at, c.webhook_id, p.environment \
         FROM connections c JOIN pairs p ON p.id = c.pair_id AND p.tenant_id = c.tenant_id \
         WHERE c.tenant_id = $1 AND c.pair_id = $2 AND c.system = $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(system)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let sealed = Sealed {
        ciphertext: r.get(2),
        nonce: r.get(3),
        key_id: r.get(4),
    };
    let plain = state
        .vault
        .decrypt(&state.db, tenant_id, pair_id, system, &sealed)
        .await?;
    let secrets: Map<String, Value> = serde_json::from_slice(&plain)?;
    let environment = Environment::parse(&r.get::<String, _>(7)).unwrap_or(Environment::Production);
    let stored: String = r.get(0);
    let (base_url, reach) =
        if environment == Environment::Sandbox && is_builtin(state, &stored, system, pair_id) {
            let url = simulator_url(&state.sandbox.self_url, system, pair_id);
            (url, Reach::Simulator)
        } else {
            let policy = crate::egress::policy(&state.db, tenant_id, system).await?;
            (stored, Reach::Egress(policy))
        };
    Ok(Some(Connection {
        reach,
        system: system.to_owned(),
        base_url,
        settings: serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default(),
        secrets,
        webhook_id: r.get(6),
        updated_at: r.get(5),
    }))
}

/// The gate for calls a person is waiting on (saving, testing a connection):
/// they may wait longer for their turn than a worker's job does.
fn tenant_gate(state: &AppState, tenant_id: &TenantId) -> Arc<dyn CallGate> {
    TenantGate::shared(
        state.db.clone(),
        state.limiter.clone(),
        tenant_id,
        std::time::Duration::from_secs(10),
        crate::usage::Metering::Each,
    )
}

fn check_system(erp: Erp, system: &str) -> Result<(), ApiError> {
    if system == "clarity" || system == erp.as_str() {
        Ok(())
    } else if matches!(system, "intacct" | "sagepro") {
        Err(ApiError::invalid(
            "system",
            format!(
                "this pair connects Clarity to {}, not {system}",
                erp.label()
            ),
        ))
    } else {
        Err(ApiError::NotFound("connection"))
    }
}

/// Saves a connection. Connecting Clarity also registers our webhook at the
/// store (unless the caller brings a `webhook_secret` of a hand-made one).
pub async fn put(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    system: &str,
    input: ConnectionInput,
) -> Result<(), ApiError> {
    who.require_manager()?;
    let pair = super::get(state, &who.tenant_id, pair_id).await?;
    check_system(pair.erp, system)?;
    let (stored_url, base_url, reach) = if pair.environment == Environment::Sandbox
        && is_builtin(state, &input.base_url, system, pair_id)
    {
        let url = simulator_url(&state.sandbox.self_url, system, pair_id);
        (BUILTIN.to_owned(), url, Reach::Simulator)
    } else {
        let policy = crate::egress::policy(&state.db, &who.tenant_id, system).await?;
        let url = url_check::check(&input.base_url, &policy)
            .await
            .map_err(|e| ApiError::invalid("base_url", e.to_string()))?;
        let url = url.as_str().trim_end_matches('/').to_owned();
        (url.clone(), url, Reach::Egress(policy))
    };
    let mut credentials = input.credentials;
    let mut webhook_id = None;
    let saved = load(state, &who.tenant_id, pair_id, system).await?;
    if let Some(saved) = &saved {
        webhook_id = keep_saved_secrets(system, &mut credentials, saved, &base_url);
    }
    let (settings, mut secrets) = split_credentials(system, &credentials)?;
    // A kept webhook id means the store's subscription still points at us.
    let registered = webhook_id.is_some();
    if registered && let Some(saved) = &saved {
        // A rotation still overlapping stays in force across an edit.
        for name in [PREVIOUS_SECRET, PREVIOUS_UNTIL] {
            if let Some(v) = saved.secrets.get(name) {
                secrets.insert(name.to_owned(), v.clone());
            }
        }
    }
    if !registered && system == "clarity" && !secrets.contains_key("webhook_secret") {
        let loaded = Connection {
            system: system.to_owned(),
            base_url: base_url.clone(),
            settings: settings.clone(),
            secrets: secrets.clone(),
            webhook_id: None,
            updated_at: 0,
            reach,
        };
        let client = clients::clarity(state, &loaded, tenant_gate(state, &who.tenant_id));
        let hook_url = hook_url_for(state, pair.environment, pair_id);
        let sub = client
            .register_webhook(&hook_url, &WEBHOOK_EVENTS)
            .await
            .map_err(|e| ApiError::BadRequest {
                code: "webhook_registration_failed",
                message: format!(
                    "could not register the webhook at Clarity: {}",
                    describe_failure(&e)
                ),
                field: Some("base_url".into()),
            })?;
        secrets.insert(
            "webhook_secret".into(),
            Value::String(sub.secret.expose_secret().to_owned()),
        );
        webhook_id = Some(sub.id);
    } else if !registered && system == "clarity" {
        webhook_id = Some("manual".to_owned());
    }
    save(
        state,
        who,
        pair_id,
        system,
        &stored_url,
        settings,
        secrets,
        webhook_id,
    )
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// Until then (Unix ms) deliveries signed with the old secret are still accepted.
    pub previous_valid_until: i64,
}

/// Asks Clarity for a new webhook signing secret and stores it; the old one
/// stays valid for the overlap Clarity signs with both.
pub async fn rotate_webhook_secret(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
) -> Result<RotatedSecret, ApiError> {
    who.require_manager()?;
    super::get(state, &who.tenant_id, pair_id).await?;
    let loaded = load(state, &who.tenant_id, pair_id, "clarity")
        .await?
        .ok_or_else(|| ApiError::invalid("system", "Clarity is not connected yet"))?;
    let webhook_id = match loaded.webhook_id.as_deref() {
        Some(id) if id != "manual" => id.to_owned(),
        _ => {
            return Err(ApiError::invalid(
                "webhook_secret",
                "this store's webhook was registered by hand: rotate its secret in Clarity, \
                 then save the new one here",
            ));
        }
    };
    let new = clients::clarity(state, &loaded, tenant_gate(state, &who.tenant_id))
        .rotate_webhook_secret(&webhook_id)
        .await
        .map_err(|e| ApiError::BadRequest {
            code: "rotation_failed",
            message: format!(
                "Clarity did not rotate the secret: {}",
                describe_failure(&e)
            ),
            field: None,
        })?;
    let until = now_ms() + connect_jobs::connectors::clarity::ROTATION_OVERLAP.as_millis() as i64;
    let mut secrets = loaded.secrets.clone();
    if let Some(old) = loaded.secrets.get("webhook_secret") {
        secrets.insert(PREVIOUS_SECRET.into(), old.clone());
        secrets.insert(PREVIOUS_UNTIL.into(), Value::from(until));
    }
    secrets.insert(
        "webhook_secret".into(),
        Value::String(new.expose_secret().to_owned()),
    );
    save(
        state,
        who,
        pair_id,
        "clarity",
        stored_url(&loaded),
        loaded.settings.clone(),
        secrets,
        Some(webhook_id),
    )
    .await?;
    Ok(RotatedSecret {
        previous_valid_until: until,
    })
}

/// Secrets are write-only, so a form or a client that changes a setting would
/// otherwise have to send every secret again: an omitted (or blank) secret
/// keeps its saved value. Clarity's webhook secret is kept only while the
/// store is the same one; then its subscription id is returned, so it is not
/// registered a second time.
fn keep_saved_secrets(
    system: &str,
    credentials: &mut Map<String, Value>,
    saved: &Connection,
    base_url: &str,
) -> Option<String> {
    let omitted = |c: &Map<String, Value>, name: &str| match c.get(name) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    };
    for (name, secret, _) in fields(system) {
        if !secret || *name == "webhook_secret" || !omitted(credentials, name) {
            continue;
        }
        if let Some(v) = saved.secrets.get(*name) {
            credentials.insert((*name).to_owned(), v.clone());
        }
    }
    let same_store = saved.base_url == base_url
        && credentials.get("client_id").and_then(Value::as_str)
            == saved.settings.get("client_id").and_then(Value::as_str);
    if system == "clarity" && omitted(credentials, "webhook_secret") {
        credentials.remove("webhook_secret");
        if same_store && let Some(v) = saved.secrets.get("webhook_secret") {
            credentials.insert("webhook_secret".into(), v.clone());
            return saved.webhook_id.clone().or_else(|| Some("manual".into()));
        }
    }
    None
}

/// Webhooks from the sandbox simulators come to this process directly; a real
/// store reaches us at the public URL.
fn hook_url_for(state: &AppState, env: Environment, pair_id: &PairId) -> String {
    match env {
        Environment::Sandbox => format!("{}/hooks/clarity/{pair_id}", state.sandbox.self_url),
        Environment::Production => super::webhook_url(state, pair_id),
    }
}

#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    system: &str,
    base_url: &str,
    settings: Map<String, Value>,
    secrets: Map<String, Value>,
    webhook_id: Option<String>,
) -> Result<(), ApiError> {
    let names: Vec<&str> = secrets.keys().map(String::as_str).collect();
    let names = names.join(",");
    let plain = serde_json::to_vec(&secrets).map_err(|e| ApiError::Internal(e.into()))?;
    let sealed = state
        .vault
        .encrypt(&state.db, &who.tenant_id, pair_id, system, &plain)
        .await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO connections (pair_id, tenant_id, system, base_url, settings, secret_ciphertext, secret_nonce, \
           data_key_id, secret_names, webhook_id, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) \
         ON CONFLICT (pair_id, system) DO UPDATE SET base_url = excluded.base_url, settings = excluded.settings, \
           secret_ciphertext = excluded.secret_ciphertext, secret_nonce = excluded.secret_nonce, \
           data_key_id = excluded.data_key_id, secret_names = excluded.secret_names, webhook_id = excluded.webhook_id, \
           last_test_at = NULL, last_test_ok = NULL, last_test_detail = NULL, updated_at = excluded.updated_at",
    )
    .bind(pair_id)
    .bind(&who.tenant_id)
    .bind(system)
    .bind(base_url)
    .bind(Value::Object(settings).to_string())
    .bind(sealed.ciphertext)
    .bind(sealed.nonce)
    .bind(sealed.key_id)
    .bind(&names)
    .bind(webhook_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    crate::revisions::inputs_changed(&mut tx, pair_id).await?;
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        "connection.saved",
        Some(&format!("{pair_id}/{system}")),
        Some(&format!("base URL {base_url}; secrets saved: {names}")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Wires a new sandbox pair to its simulators.
pub async fn connect_sandbox(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    erp: Erp,
    creds: &SandboxCredentials,
) -> Result<(), ApiError> {
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    put(
        state,
        who,
        pair_id,
        "clarity",
        ConnectionInput {
            base_url: BUILTIN.to_owned(),
            credentials: obj(json!({
                "client_id": creds.clarity_client_id,
                "client_secret": creds.clarity_client_secret,
            })),
        },
    )
    .await?;
    let (system, input) = match erp {
        Erp::Intacct => (
            "intacct",
            ConnectionInput {
                base_url: BUILTIN.to_owned(),
                credentials: obj(json!({
                    "sender_id": creds.intacct_sender_id,
                    "sender_password": creds.intacct_sender_password,
                    "company_id": creds.intacct_company_id,
                    "user_id": creds.intacct_user_id,
                    "user_password": creds.intacct_user_password,
                    "entity_id": "US-EAST",
                })),
            },
        ),
        Erp::Sagepro => (
            "sagepro",
            ConnectionInput {
                base_url: BUILTIN.to_owned(),
                credentials: obj(json!({ "api_key": creds.sagepro_api_key })),
            },
        ),
    };
    put(state, who, pair_id, system, input).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub ok: bool,
    pub detail: String,
}

impl TestResult {
    /// What a connector's test call comes to, as shown and stored: a short
    /// line in our words, whatever the remote answered.
    pub fn from_outcome(outcome: Result<String, ConnectorError>) -> Self {
        match outcome {
            // The connectors' own sentence, though a part of it (the entity
            // Intacct names) comes from the peer: bounded and on one line.
            Ok(detail) => TestResult {
                ok: true,
                detail: status_line(&detail),
            },
            Err(e) => TestResult {
                ok: false,
                detail: describe_failure(&e),
            },
        }
    }
}

/// Makes a real call to the system and records the result on the connection.
pub async fn test(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    system: &str,
) -> Result<TestResult, ApiError> {
    let pair = super::get(state, &who.tenant_id, pair_id).await?;
    check_system(pair.erp, system)?;
    let loaded = load(state, &who.tenant_id, pair_id, system)
        .await?
        .ok_or_else(|| ApiError::invalid("system", format!("{system} is not connected yet")))?;
    let meter = tenant_gate(state, &who.tenant_id);
    let outcome = match system {
        "clarity" => {
            clients::clarity(state, &loaded, meter)
                .test_connection()
                .await
        }
        "intacct" => {
            clients::intacct(state, &loaded, meter)
                .test_connection()
                .await
        }
        _ => {
            clients::sagepro(state, &loaded, meter)
                .test_connection()
                .await
        }
    };
    let result = TestResult::from_outcome(outcome);
    sqlx::query(
        "UPDATE connections SET last_test_at = $1, last_test_ok = $2, last_test_detail = $3 \
         WHERE tenant_id = $4 AND pair_id = $5 AND system = $6",
    )
    .bind(now_ms())
    .bind(result.ok as i64)
    .bind(&result.detail)
    .bind(&who.tenant_id)
    .bind(pair_id)
    .bind(system)
    .execute(state.db.pool())
    .await?;
    Ok(result)
}

/// The longest detail a connection test keeps: a status line, not a document.
pub const DETAIL_MAX: usize = 160;

/// A line fit to show and store: control characters become spaces, runs of
/// whitespace one space, and at most [`DETAIL_MAX`] characters are kept.
pub fn status_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(DETAIL_MAX * 4));
    let mut count = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if count + usize::from(space) + 1 > DETAIL_MAX {
            out.push('…');
            break;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// A status code with its reason phrase: "503 Service Unavailable".
fn http_status(code: u16) -> String {
    match axum::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{code} {reason}"),
        None => code.to_string(),
    }
}

fn system_label(system: System) -> &'static str {
    match system {
        System::Clarity => "Clarity",
        System::Intacct => "Sage Intacct",
        System::Sagepro => "Sage Pro",
    }
}

/// A failed connection test in the words a person needs: what happened, with
/// the status where there was one ("401: …", "timed out after 10 s").
///
/// Only our own words: a base URL can point at any server, and whatever that
/// server answered (a page, an internal service's data) must not come back to
/// the caller through this line. The connectors' messages quote the peer, so
/// none of them is shown; the error's kind and status decide the text.
pub fn describe_failure(e: &ConnectorError) -> String {
    use ConnectorError::*;
    // Whole seconds from 1 s up: a timeout measured at 2.004 s reads "2 s".
    let secs = |d: &std::time::Duration| {
        let s = d.as_secs_f64();
        if s >= 1.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    };
    let later = |d: &Option<std::time::Duration>| {
        d.as_ref()
            .map(|d| format!("; try again in {}", secs(d)))
            .unwrap_or_default()
    };
    let label = system_label(e.system());
    let line = match e {
        Timeout { after, .. } => format!("timed out after {}", secs(after)),
        // A transport failure's cause is our own resolver's or socket's words
        // (refused, unreachable, not allowed), never the peer's body.
        Connect { message, .. } => format!("could not connect: {message}"),
        Server { status, .. } => format!("{}: {label} failed to answer", http_status(*status)),
        Unavailable {
            status,
            retry_after,
            ..
        } => format!(
            "{}: {label} is unavailable{}",
            http_status(*status),
            later(retry_after)
        ),
        Auth { system, message } => auth_failure(*system, message),
        RateLimited {
            system,
            retry_after,
        } => format!(
            "429: {system} is rate limiting these credentials{}",
            later(retry_after)
        ),
        ConcurrencyLimit {
            system,
            retry_after,
        } => format!(
            "{system} is busy with other requests from this company{}",
            later(retry_after)
        ),
        Throttled { system, wait } => format!(
            "waiting for this workspace's rate limit on {system}; try again in {}",
            secs(wait)
        ),
        SessionExpired { .. } => format!("{label} ended the session; test again"),
        RecordLocked { retry_after, .. } => {
            format!("{label} has the record locked{}", later(retry_after))
        }
        NotFound { .. } => {
            format!("404 Not Found: {label}'s API is not at this base URL")
        }
        Validation { .. } | Refused { .. } => format!("{label} refused the request"),
        Protocol { .. } => format!(
            "the answer is not {label}'s API (check the base URL; redirects are not followed)"
        ),
    };
    status_line(&line)
}

/// Which credentials were refused, told from the connector's own classified
/// words at the start of its message (what follows them quotes the peer).
fn auth_failure(system: System, message: &str) -> String {
    match system {
        // Intacct answers sign-in failures inside HTTP 200.
        System::Intacct if message.starts_with("the Web Services sender") => {
            "sign-in refused: the Web Services sender was refused; check the sender ID and \
             password, and that the sender is authorized for this company"
                .to_owned()
        }
        System::Intacct if message.starts_with("the company can no longer be used") => {
            "sign-in refused: the company can no longer be used".to_owned()
        }
        System::Intacct => "sign-in refused: check the company ID, user ID and user password, \
                            and that the user is a Web Services user"
            .to_owned(),
        System::Clarity if message.contains("403") || message.contains("FORBIDDEN") => {
            "403: the Clarity client lacks a scope this pair needs".to_owned()
        }
        System::Clarity => "401: Clarity refused the client ID or client secret".to_owned(),
        System::Sagepro if message.contains("403") || message.contains("FORBIDDEN") => {
            "403: the Sage Pro API key lacks a scope this pair needs".to_owned()
        }
        System::Sagepro => "401: Sage Pro refused the API key".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intacct_time_zone_must_be_a_known_zone() {
        let creds = |zone: &str| -> Map<String, Value> {
            serde_json::from_value(json!({"sender_id": "s", "sender_password": "p",
                "company_id": "c", "user_id": "u", "user_password": "p", "timezone": zone}))
            .unwrap()
        };
        let (settings, _) = split_credentials("intacct", &creds("Europe/London")).unwrap();
        assert_eq!(settings["timezone"], "Europe/London");
        let e = split_credentials("intacct", &creds("Europe/Atlantis")).unwrap_err();
        assert!(
            matches!(&e, ApiError::BadRequest { field: Some(f), .. } if f == "credentials.timezone"),
            "{e:?}"
        );
    }

    #[test]
    fn the_previous_webhook_secret_counts_only_until_the_overlap_ends() {
        let loaded = Connection {
            system: "clarity".into(),
            base_url: String::new(),
            settings: Map::new(),
            secrets: serde_json::from_value(json!({
                "webhook_secret": "whsec_new",
                PREVIOUS_SECRET: "whsec_old",
                PREVIOUS_UNTIL: 1_000,
            }))
            .unwrap(),
            webhook_id: Some("wh_1".into()),
            updated_at: 0,
            reach: Reach::Simulator,
        };
        assert_eq!(loaded.webhook_secrets(999), ["whsec_new", "whsec_old"]);
        assert_eq!(loaded.webhook_secrets(1_000), ["whsec_new"]);
    }

    #[test]
    fn failed_tests_read_like_a_person_wrote_them() {
        use std::time::Duration;
        assert_eq!(
            describe_failure(&ConnectorError::Timeout {
                system: System::Sagepro,
                after: Duration::from_secs(10)
            }),
            "timed out after 10 s"
        );
        assert_eq!(
            describe_failure(&ConnectorError::Auth {
                system: System::Clarity,
                message: "HTTP 401: client authentication failed".into()
            }),
            "401: Clarity refused the client ID or client secret"
        );
        assert!(
            describe_failure(&ConnectorError::Auth {
                system: System::Intacct,
                message: "the Web Services sender 'x' was refused".into()
            })
            .starts_with("sign-in refused: the Web Services sender")
        );
        assert_eq!(
            describe_failure(&ConnectorError::RateLimited {
                system: System::Clarity,
                retry_after: Some(Duration::from_secs(3))
            }),
            "429: clarity is rate limiting these credentials; try again in 3 s"
        );
        assert_eq!(
            describe_failure(&ConnectorError::Unavailable {
                system: System::Sagepro,
                status: 503,
                message: "reindexing".into(),
                retry_after: Some(Duration::from_secs(5))
            }),
            "503 Service Unavailable: Sage Pro is unavailable; try again in 5 s"
        );
    }

    #[test]
    fn no_failure_shows_what_the_peer_wrote() {
        let said = "root:x:0:0 AKIA-SECRET-KEY";
        let system = System::Clarity;
        let message = || format!("HTTP 500: {said}");
        for e in [
            ConnectorError::Server {
                system,
                status: 500,
                message: message(),
            },
            ConnectorError::Unavailable {
                system,
                status: 503,
                message: message(),
                retry_after: None,
            },
            ConnectorError::RecordLocked {
                system,
                message: message(),
                retry_after: None,
            },
            ConnectorError::Validation {
                system,
                field: Some(said.into()),
                message: message(),
            },
            ConnectorError::Auth {
                system,
                message: message(),
            },
            ConnectorError::Auth {
                system: System::Intacct,
                message: format!("the Web Services sender 'x' was refused ({said})"),
            },
            ConnectorError::Auth {
                system: System::Sagepro,
                message: message(),
            },
            ConnectorError::NotFound {
                system,
                message: message(),
            },
            ConnectorError::Protocol {
                system,
                message: message(),
            },
            ConnectorError::Refused {
                system,
                message: message(),
            },
        ] {
            let line = describe_failure(&e);
            assert!(
                !line.contains("root") && !line.contains("AKIA"),
                "{e:?} -> {line}"
            );
        }
    }

    #[test]
    fn a_status_line_is_one_bounded_line() {
        assert_eq!(status_line("  a\r\n\tb\u{1b}[31m c  "), "a b [31m c");
        let long = status_line(&"x".repeat(1000));
        assert_eq!(long.chars().count(), DETAIL_MAX + 1);
        assert!(long.ends_with('…'));
        assert_eq!(status_line("short"), "short");
    }

    #[test]
    fn credentials_name_the_missing_or_unknown_field() {
        let creds: Map<String, Value> = serde_json::from_value(json!({"client_id": "x"})).unwrap();
        let e = split_credentials("clarity", &creds).unwrap_err();
        assert_eq!(e.field(), Some("credentials.client_secret"));
        let creds: Map<String, Value> =
            serde_json::from_value(json!({"api_key": "k", "password": "p"})).unwrap();
        let e = split_credentials("sagepro", &creds).unwrap_err();
        assert_eq!(e.field(), Some("credentials.password"));
    }

    #[test]
    fn secrets_and_settings_are_kept_apart() {
        let creds: Map<String, Value> =
            serde_json::from_value(json!({"client_id": "id", "client_secret": "s3cret"})).unwrap();
        let (settings, secrets) = split_credentials("clarity", &creds).unwrap();
        assert_eq!(settings.get("client_id").unwrap(), "id");
        assert!(!Value::Object(settings).to_string().contains("s3cret"));
        assert_eq!(secrets.get("client_secret").unwrap(), "s3cret");
    }
}
