//! Integration pairs: a Clarity store joined to one ERP, sandbox or production,
//! draft → active ⇄ paused. A sandbox pair comes wired to the built-in simulators.

pub mod backfill;
pub mod connections;
pub mod flows;

use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::Principal;
use crate::billing::enforce::{self, Counted};
use crate::db::{is_unique_violation, now_ms};
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::sandbox::{self, SandboxCredentials};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Erp {
    Intacct,
    Sagepro,
}

impl Erp {
    pub fn as_str(self) -> &'static str {
        match self {
            Erp::Intacct => "intacct",
            Erp::Sagepro => "sagepro",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "intacct" => Some(Erp::Intacct),
            "sagepro" => Some(Erp::Sagepro),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Erp::Intacct => "Sage Intacct",
            Erp::Sagepro => "Sage Pro",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Environment::Sandbox),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// The flows a pair runs; templates exist per flow.
pub use connect_jobs::mapping::FLOWS;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pair {
    #[schema(value_type = String)]
    pub id: PairId,
    pub name: String,
    pub erp: Erp,
    pub environment: Environment,
    /// draft, active or paused
    pub status: String,
    /// Where Clarity sends this pair's webhooks.
    pub webhook_url: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub connections: Vec<connections::ConnectionSummary>,
    pub health: Health,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// ok, degraded (failures in the last 24 h), failing (only failures lately) or idle
    pub state: String,
    pub succeeded_24h: i64,
    pub failed_24h: i64,
    pub backlog: i64,
    pub dead_letters: i64,
    pub last_run_at: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewPair {
    pub name: String,
    /// "intacct" or "sagepro"
    pub erp: String,
    /// "sandbox" or "production"
    pub environment: String,
}

pub struct ParsedPair {
    pub name: String,
    pub erp: Erp,
    pub environment: Environment,
}

impl TryFrom<NewPair> for ParsedPair {
    type Error = ApiError;
    fn try_from(p: NewPair) -> Result<Self, ApiError> {
        let name = p.name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::invalid("name", "is required"));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid("name", crate::error::CONTROL_CHARACTERS));
        }
        if name.chars().count() > 80 {
            return Err(ApiError::invalid("name", "must be at most 80 characters"));
        }
        let erp = Erp::parse(&p.erp).ok_or_else(|| {
            ApiError::invalid(
                "erp",
                format!(
                    "'{}' is not an ERP we connect (use intacct or sagepro)",
                    p.erp
                ),
            )
        })?;
        let environment = Environment::parse(&p.environment).ok_or_else(|| {
            ApiError::invalid(
                "environment",
                format!(
                    "'{}' is not an environment (use sandbox or production)",
                    p.environment
                ),
            )
        })?;
        Ok(Self {
            name,
            erp,
            environment,
        })
    }
}

pub fn webhook_url(state: &AppState, pair_id: &PairId) -> String {
    format!("{}/hooks/clarity/{pair_id}", state.public_url)
}

type PairRow = (PairId, String, String, String, String, i64, i64);
const PAIR_COLUMNS: &str = "id, name, erp, environment, status, created_at, updated_at";

async fn from_row(state: &AppState, tenant_id: &TenantId, r: PairRow) -> Result<Pair, ApiError> {
    let connections = connections::summaries(state, tenant_id, &r.0).await?;
    let health = health(state, tenant_id, &r.0).await?;
    Ok(Pair {
        webhook_url: webhook_url(state, &r.0),
        id: r.0,
        name: r.1,
        erp: Erp::parse(&r.2).unwrap_or(Erp::Intacct),
        environment: Environment::parse(&r.3).unwrap_or(Environment::Sandbox),
        status: r.4,
        created_at: r.5,
        updated_at: r.6,
        connections,
        health,
    })
}

pub async fn health(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Health, sqlx::Error> {
    let since = now_ms() - 24 * 3600 * 1000;
    let (ok, failed, last): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN status IN ('failed','dead') THEN 1 ELSE 0 END), 0), MAX(updated_at) \
         FROM runs WHERE tenant_id = $1 AND pair_id = $2 AND updated_at > $3",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(since)
    .fetch_one(state.db.pool())
    .await?;
    let (backlog,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM inbox WHERE tenant_id = $1 AND pair_id = $2 AND status IN ('pending','processing')",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_one(state.db.pool())
    .await?;
    let (dead,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM dead_letters WHERE tenant_id = $1 AND pair_id = $2 AND replayed_at IS NULL",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_one(state.db.pool())
    .await?;
    let state_name = match (ok, failed) {
        (0, 0) => "idle",
        (_, 0) => "ok",
        (0, _) => "failing",
        _ => "degraded",
    };
    Ok(Health {
        state: state_name.to_owned(),
        succeeded_24h: ok,
        failed_24h: failed,
        backlog,
        dead_letters: dead,
        last_run_at: last,
    })
}

pub async fn list(state: &AppState, tenant_id: &TenantId) -> Result<Vec<Pair>, ApiError> {
    let rows: Vec<PairRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PAIR_COLUMNS} FROM pairs WHERE tenant_id = $1 ORDER BY created_at DESC"
    )))
    .bind(tenant_id)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(from_row(state, tenant_id, r).await?);
    }
    Ok(out)
}

/// The pair, if it belongs to this tenant; another tenant's pair is "not found".
pub async fn get(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Pair, ApiError> {
    let row: Option<PairRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PAIR_COLUMNS} FROM pairs WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_optional(state.db.pool())
    .await?;
    match row {
        Some(r) => from_row(state, tenant_id, r).await,
        None => Err(ApiError::NotFound("pair")),
    }
}

pub async fn create(
    state: &AppState,
    who: &Principal,
    input: ParsedPair,
) -> Result<Pair, ApiError> {
    who.require_manager()?;
    let id = PairId::generate();
    let now = now_ms();
    let status = match input.environment {
        // A sandbox pair is ready to run: its connections and templates are made here.
        Environment::Sandbox => "active",
        Environment::Production => "draft",
    };
    let mut tx = state.db.begin_write().await?;
    let counted = match input.environment {
        Environment::Sandbox => Counted::SandboxPairs,
        Environment::Production => Counted::ProductionPairs,
    };
    enforce::check(&state.db, &mut tx, &who.tenant_id, counted, None).await??;
    let inserted = sqlx::query(
        "INSERT INTO pairs (id, tenant_id, name, erp, environment, status, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$7)",
    )
    .bind(&id)
    .bind(&who.tenant_id)
    .bind(&input.name)
    .bind(input.erp.as_str())
    .bind(input.environment.as_str())
    .bind(status)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict {
                message: format!("a pair named '{}' already exists", input.name),
                field: Some("name".into()),
            });
        }
        other => {
            other?;
        }
    }
    crate::template_store::install_builtin(
        &mut tx,
        &who.tenant_id,
        &id,
        input.erp.as_str(),
        &who.email,
    )
    .await?;
    let sandbox_creds = if input.environment == Environment::Sandbox {
        let creds = SandboxCredentials::generate(&id, &who.tenant_id);
        creds.insert(&mut tx).await?;
        sandbox::clarity::seed(&mut tx, &id).await?;
        sandbox::intacct::seed(&mut tx, &id).await?;
        sandbox::sagepro::seed(&mut tx, &id).await?;
        // The sample company's rates, as rows the tenant sees on /rates.
        crate::rates::seed_sandbox(&mut tx, &who.tenant_id, &who.actor()).await?;
        Some(creds)
    } else {
        None
    };
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        "pair.created",
        Some(&id),
        Some(&format!(
            "{} ({}, {})",
            input.name,
            input.erp.as_str(),
            input.environment.as_str()
        )),
    )
    .await?;
    tx.commit().await?;
    if let Some(creds) = sandbox_creds {
        // Connect the pair to its simulators the way a user would: through the
        // same code path, which also registers the webhook at Clarity.
        connections::connect_sandbox(state, who, &id, input.erp, &creds).await?;
    }
    get(state, &who.tenant_id, &id).await
}

/// activate / pause
pub async fn set_status(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    status: &str,
) -> Result<Pair, ApiError> {
    who.require_operator()?;
    let pair = get(state, &who.tenant_id, pair_id).await?;
    if status == "active" {
        let missing: Vec<&str> = ["clarity", pair.erp.as_str()]
            .into_iter()
            .filter(|s| {
                !pair
                    .connections
                    .iter()
                    .any(|c| c.system == *s && c.configured)
            })
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::BadRequest {
                code: "not_ready",
                message: format!(
                    "connect {} before activating the pair",
                    missing.join(" and ")
                ),
                field: Some("connections".into()),
            });
        }
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE pairs SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
        .bind(status)
        .bind(now_ms())
        .bind(&who.tenant_id)
        .bind(pair_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        if status == "active" {
            "pair.activated"
        } else {
            "pair.paused"
        },
        Some(pair_id),
        None,
    )
    .await?;
    tx.commit().await?;
    get(state, &who.tenant_id, pair_id).await
}
