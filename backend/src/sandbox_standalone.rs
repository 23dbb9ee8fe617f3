//! `connect sandbox`: the simulators alone, for pointing other software (an
//! SDK, a script, a colleague's connector) at Clarity, Sage Intacct and Sage
//! Pro without signing up. The first start creates one standalone sandbox,
//! seeded like any sandbox pair, owned by a tenant that has no users; later
//! starts reuse it, so its records and credentials survive restarts.
//!
//! It lives here, not in the sandbox crate, because making the owning tenant
//! and its rates is the control plane's business (`rates`, `audit`).

use crate::db::{Db, now_ms};
use crate::sandbox::{self, SandboxCredentials};

pub const TENANT_ID: &str = "ten_standalone_sandbox";
pub const PAIR_ID: &str = "pair_standalone_sandbox";

/// The standalone sandbox's credentials, creating and seeding it on first use.
pub async fn ensure(db: &Db) -> Result<SandboxCredentials, sqlx::Error> {
    if let Some(c) = SandboxCredentials::load(db, PAIR_ID).await? {
        return Ok(c);
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO tenants (id, name, plan_id, status, created_at) \
         VALUES ($1, 'Standalone sandbox', 'trial', 'active', $2)",
    )
    .bind(TENANT_ID)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pairs (id, tenant_id, name, erp, environment, status, created_at, updated_at) \
         VALUES ($1, $2, 'Standalone sandbox', 'intacct', 'sandbox', 'paused', $3, $3)",
    )
    .bind(PAIR_ID)
    .bind(TENANT_ID)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let creds = SandboxCredentials::generate(PAIR_ID, TENANT_ID);
    creds.insert(&mut tx).await?;
    sandbox::clarity::seed(&mut tx, PAIR_ID).await?;
    sandbox::intacct::seed(&mut tx, PAIR_ID).await?;
    sandbox::sagepro::seed(&mut tx, PAIR_ID).await?;
    crate::rates::seed_sandbox(&mut tx, TENANT_ID, &crate::audit::Actor::system()).await?;
    tx.commit().await?;
    Ok(creds)
}

/// What a person needs to call the simulators, as printed at start.
pub fn describe(c: &SandboxCredentials, base: &str) -> String {
    let p = &c.pair_id;
    format!(
        "Standalone sandbox (its data is kept in the database between starts):\n\
         \n  Clarity      token   {base}/sandbox/clarity/{p}/oauth/token\
         \n               api     {base}/sandbox/clarity/{p}/api/v1\
         \n               client  {} / {}\
         \n               control {base}/sandbox/clarity/{p}/__sim/orders  (POST {{\"count\": 3}}),\
         \n                       …/__sim/orders/{{id}}/capture, …/__sim/webhook-log\
         \n                       with the client id and secret as HTTP Basic, or a bearer token\
         \n  Sage Intacct gateway {base}/sandbox/intacct/{p}/ia/xml/xmlgw.phtml\
         \n               sender  {} / {}\
         \n               company {}  user {} / {}\
         \n  Sage Pro     api     {base}/sandbox/sagepro/{p}/api/v1/sagepro\
         \n               X-API-Key {}\n",
        c.clarity_client_id,
        c.clarity_client_secret,
        c.intacct_sender_id,
        c.intacct_sender_password,
        c.intacct_company_id,
        c.intacct_user_id,
        c.intacct_user_password,
        c.sagepro_api_key,
    )
}
