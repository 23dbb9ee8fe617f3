//! Egress: where a tenant's connections may send requests. One rule, applied
//! in three places:
//!
//! - when a base URL is saved ([`url_check`]): http(s) only, and no address
//!   the pair may not reach, with the reason on `base_url`;
//! - on every call, inside the HTTP client's name resolution
//!   (`connect_jobs::egress`), so a name that later resolves inward (DNS
//!   rebinding) is refused too;
//! - and the exceptions an operator grants ([`allowances`]): one internal
//!   network for one tenant's on-premises Sage Pro.
//!
//! A sandbox pair's own simulators are not reached through this rule at all,
//! but by construction (`pairs::connections::BUILTIN`).

pub mod allowances;
pub mod url_check;

use connect_jobs::egress::EgressPolicy;

use crate::db::Db;

pub use allowances::{AddError, PrivateTarget};

/// What a URL a tenant gave for `system` may reach, on a production or a
/// sandbox pair alike: a sandbox pair's own simulators are reached by
/// construction (`pairs::connections::BUILTIN`), never through a policy, so
/// no typed URL can open loopback, private or metadata addresses.
pub async fn policy(db: &Db, tenant_id: &str, system: &str) -> Result<EgressPolicy, sqlx::Error> {
    // Only Sage Pro runs on customers' premises; the cloud systems never need it.
    let allowed = if system == "sagepro" {
        allowances::list(db, tenant_id)
            .await?
            .iter()
            .filter_map(|t| t.network.parse().ok())
            .collect()
    } else {
        Vec::new()
    };
    Ok(EgressPolicy::public_only(allowed))
}
