//! The sandbox: simulators of Clarity, Sage Intacct and Sage Pro, one set per
//! sandbox pair, mounted under `/sandbox/{clarity,intacct,sagepro}/{pair_id}/…`.
//!
//! They are product features, written from `shared/specs/`, with their state in
//! the product's database so that a restart loses nothing. Faults (errors,
//! timeouts, latency, rate limits) are injected per pair and system through
//! [`FaultRegistry`].
//!
//! This crate depends on no web or engine code: the database handle comes from
//! `connect-store`, and from `connect-jobs` only the catalog trait the engine
//! reads an ERP through ([`erp_catalog`]) and a generic XML element tree
//! (`intacct`). Every shape a spec defines is the simulators' own
//! (`clarity::wire`, `clarity::signature`, `intacct::wire`, `sagepro::wire`),
//! written apart from the connectors', so that one misreading of a spec cannot
//! pass on both sides. The backend mounts [`router`] under `/sandbox`.

pub mod catalog;
pub mod clarity;
pub mod erp_catalog;
pub mod faults;
pub mod intacct;
pub mod sagepro;

use std::sync::Arc;

use axum::Router;

use connect_store::Db;
pub use faults::{
    CallFate, FaultDecision, FaultKind, FaultRegistry, FaultSettings, RateLimit, ScriptedFault,
    SimSystem,
};

/// What every simulator handler can reach.
#[derive(Clone)]
pub struct SandboxState {
    pub db: Db,
    pub faults: Arc<FaultRegistry>,
    /// For the Clarity simulator's webhook deliveries.
    pub http: reqwest::Client,
    /// Where this process is reachable (known after binding), e.g.
    /// `http://127.0.0.1:8080`; simulators build their own URLs from it.
    pub self_url: Arc<str>,
    /// What the simulators read on every call and keep for a moment:
    /// pairs' demo credentials, Intacct sessions.
    pub memo: Arc<Memo>,
}

/// How long what [`Memo`] holds is reused. Credentials never change while
/// a pair lives; a deleted pair's simulators stop answering within this, and
/// a session ended by another process of the product is refused within it
/// (one ended here is forgotten at once).
pub const MEMO_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Entries kept of each kind; past that, the kind starts over.
const MEMO_KEPT: usize = 4096;

#[derive(Default)]
pub struct Memo {
    credentials: parking_lot::Mutex<
        std::collections::HashMap<String, (std::time::Instant, SandboxCredentials)>,
    >,
    pub(crate) intacct_sessions: intacct::SessionMemo,
}

impl SandboxState {
    /// The pair's credentials ([`SandboxCredentials::load`]), kept for
    /// [`MEMO_TTL`]; `None` is not kept, so a pair made a moment ago is found.
    pub async fn credentials(
        &self,
        pair_id: &str,
    ) -> Result<Option<SandboxCredentials>, sqlx::Error> {
        if let Some((at, c)) = self.memo.credentials.lock().get(pair_id)
            && at.elapsed() < MEMO_TTL
        {
            return Ok(Some(c.clone()));
        }
        let loaded = SandboxCredentials::load(&self.db, pair_id).await?;
        if let Some(c) = &loaded {
            let mut pairs = self.memo.credentials.lock();
            if pairs.len() >= MEMO_KEPT {
                pairs.clear();
            }
            pairs.insert(pair_id.to_owned(), (std::time::Instant::now(), c.clone()));
        }
        Ok(loaded)
    }
}

/// All simulators under one router; the caller nests it at `/sandbox`.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .nest("/clarity", clarity::router(state.clone()))
        .nest("/intacct", intacct::router(state.clone()))
        .nest("/sagepro", sagepro::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, track_in_flight))
}

/// Counts every simulator request in flight per pair and system, whatever the
/// simulator does with it (a held "timed out" answer stays in flight).
async fn track_in_flight(
    axum::extract::State(state): axum::extract::State<SandboxState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut segments = request.uri().path().split('/').filter(|s| !s.is_empty());
    let guard = segments
        .find_map(SimSystem::parse)
        .zip(segments.next())
        .map(|(system, pair_id)| state.faults.enter(pair_id, system));
    let response = next.run(request).await;
    drop(guard);
    response
}

/// Demo credentials of one sandbox pair's simulators. These are the sandbox's
/// own test logins, shown to the tenant on purpose; never a customer secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxCredentials {
    pub pair_id: String,
    pub tenant_id: String,
    pub clarity_client_id: String,
    pub clarity_client_secret: String,
    pub intacct_sender_id: String,
    pub intacct_sender_password: String,
    pub intacct_company_id: String,
    pub intacct_user_id: String,
    pub intacct_user_password: String,
    pub sagepro_api_key: String,
}

impl SandboxCredentials {
    /// Fresh random credentials for a new sandbox pair.
    pub fn generate(pair_id: &str, tenant_id: &str) -> Self {
        let short = &pair_id[pair_id.len().saturating_sub(8)..];
        Self {
            pair_id: pair_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            clarity_client_id: format!("cli_{short}"),
            clarity_client_secret: random_token("cs_"),
            intacct_sender_id: "clarity-connect-sandbox".to_owned(),
            intacct_sender_password: random_token("sp_"),
            intacct_company_id: format!("DEMO-{}", short.to_uppercase()),
            intacct_user_id: "ws_user".to_owned(),
            intacct_user_password: random_token("up_"),
            sagepro_api_key: random_token("sp_test_"),
        }
    }

    pub async fn insert(&self, tx: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sandbox_credentials (pair_id, tenant_id, clarity_client_id, clarity_client_secret, \
             intacct_sender_id, intacct_sender_password, intacct_company_id, intacct_user_id, \
             intacct_user_password, sagepro_api_key, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(&self.pair_id)
        .bind(&self.tenant_id)
        .bind(&self.clarity_client_id)
        .bind(&self.clarity_client_secret)
        .bind(&self.intacct_sender_id)
        .bind(&self.intacct_sender_password)
        .bind(&self.intacct_company_id)
        .bind(&self.intacct_user_id)
        .bind(&self.intacct_user_password)
        .bind(&self.sagepro_api_key)
        .bind(connect_store::now_ms())
        .execute(tx)
        .await?;
        Ok(())
    }

    /// The credentials of a sandbox pair, or `None` when the pair has no sandbox.
    pub async fn load(db: &Db, pair_id: &str) -> Result<Option<Self>, sqlx::Error> {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT pair_id, tenant_id, clarity_client_id, clarity_client_secret, intacct_sender_id, \
             intacct_sender_password, intacct_company_id, intacct_user_id, intacct_user_password, \
             sagepro_api_key FROM sandbox_credentials WHERE pair_id = $1",
        )
        .bind(pair_id)
        .fetch_optional(db.pool())
        .await?;
        Ok(row.map(|r| Self {
            pair_id: r.get(0),
            tenant_id: r.get(1),
            clarity_client_id: r.get(2),
            clarity_client_secret: r.get(3),
            intacct_sender_id: r.get(4),
            intacct_sender_password: r.get(5),
            intacct_company_id: r.get(6),
            intacct_user_id: r.get(7),
            intacct_user_password: r.get(8),
            sagepro_api_key: r.get(9),
        }))
    }
}

/// A random URL-safe token with a readable prefix: the simulators' demo
/// credentials and generated ids. (The backend has its own for sessions and
/// API tokens, so it needs no simulator to sign anyone in.)
pub(crate) fn random_token(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
