//! Internal networks an operator has allowed a tenant to reach.
//!
//! Production pairs reach public addresses only (see `connect_jobs::egress`).
//! Sage Pro often runs on premises behind a VPN, so an operator may open one
//! internal network for one tenant's Sage Pro connections after checking it.
//! Loopback, link-local (cloud metadata) and other special ranges can never be
//! opened: they would point at the platform itself.

use connect_jobs::egress::is_internal;
use ipnet::IpNet;
use serde::Serialize;
use sqlx::Row;

use crate::audit::{self, Actor};
use crate::db::{Db, now_ms};
use crate::ids::new_id;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrivateTarget {
    pub id: String,
    pub tenant_id: String,
    /// An address or a network in CIDR form, e.g. `10.20.0.15` or `10.20.0.0/24`.
    pub network: String,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    #[error("is not an IP address or a network in CIDR form (e.g. 10.20.0.0/24)")]
    Parse,
    #[error("{0} is a public network; public addresses need no allowance")]
    Public(IpNet),
    #[error("{0} includes loopback, link-local or reserved addresses, which can never be allowed")]
    Forbidden(IpNet),
    #[error("{0} is too broad; allow at most a /16 (IPv4) or a /48 (IPv6)")]
    TooBroad(IpNet),
}

/// The smallest network an allowance may name: an on-premises host or subnet,
/// not a whole private range.
const MIN_PREFIX_V4: u8 = 16;
const MIN_PREFIX_V6: u8 = 48;

/// Parses and vets a network an operator wants to allow.
pub fn parse_network(raw: &str) -> Result<IpNet, NetworkError> {
    let raw = raw.trim();
    let net: IpNet = match raw.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => raw
            .parse::<std::net::IpAddr>()
            .map(IpNet::from)
            .map_err(|_| NetworkError::Parse)?,
    }
    .trunc();
    let min = match net {
        IpNet::V4(_) => MIN_PREFIX_V4,
        IpNet::V6(_) => MIN_PREFIX_V6,
    };
    if net.prefix_len() < min {
        return Err(NetworkError::TooBroad(net));
    }
    let (first, last) = (net.network(), net.broadcast());
    if !is_internal(first) || !is_internal(last) {
        return Err(NetworkError::Public(net));
    }
    let forbidden = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some()
                // 6to4 and Teredo reach an IPv4 address through a relay: an
                // on-premises agent is allowed by that address, not these.
                || v6.segments()[0] == 0x2002
                || v6.segments()[..2] == [0x2001, 0]
        }
    };
    if forbidden(first) || forbidden(last) {
        return Err(NetworkError::Forbidden(net));
    }
    Ok(net)
}

pub async fn list(db: &Db, tenant_id: &str) -> Result<Vec<PrivateTarget>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, network, note, created_by, created_at FROM private_targets \
         WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PrivateTarget {
            id: r.get(0),
            tenant_id: r.get(1),
            network: r.get(2),
            note: r.get(3),
            created_by: r.get(4),
            created_at: r.get(5),
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("tenant not found")]
    NoTenant,
    #[error("{0} is already allowed for this tenant")]
    Duplicate(IpNet),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Allows `network` for the tenant, with the audit row in the same transaction.
pub async fn add(
    db: &Db,
    actor: &Actor<'_>,
    tenant_id: &str,
    network: IpNet,
    note: &str,
) -> Result<PrivateTarget, AddError> {
    let mut tx = db.pool().begin().await?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(AddError::NoTenant);
    }
    let dup: Option<(String,)> =
        sqlx::query_as("SELECT id FROM private_targets WHERE tenant_id = $1 AND network = $2")
            .bind(tenant_id)
            .bind(network.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    if dup.is_some() {
        return Err(AddError::Duplicate(network));
    }
    let target = PrivateTarget {
        id: new_id("ptg"),
        tenant_id: tenant_id.to_owned(),
        network: network.to_string(),
        note: note.trim().to_owned(),
        created_by: actor.email.unwrap_or("system").to_owned(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO private_targets (id, tenant_id, network, note, created_by, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&target.id)
    .bind(&target.tenant_id)
    .bind(&target.network)
    .bind(&target.note)
    .bind(&target.created_by)
    .bind(target.created_at)
    .execute(&mut *tx)
    .await?;
    crate::revisions::inputs_changed(&mut tx, tenant_id).await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "private_target.allow",
        Some(&target.network),
        Some(&target.note),
    )
    .await?;
    tx.commit().await?;
    Ok(target)
}

/// Withdraws an allowance; `false` when the tenant has none with that id.
pub async fn remove(
    db: &Db,
    actor: &Actor<'_>,
    tenant_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let row: Option<(String,)> = sqlx::query_as(
        "DELETE FROM private_targets WHERE tenant_id = $1 AND id = $2 RETURNING network",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((network,)) = row else {
        return Ok(false);
    };
    crate::revisions::inputs_changed(&mut tx, tenant_id).await?;
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "private_target.withdraw",
        Some(&network),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_narrow_internal_networks_may_be_allowed() {
        assert_eq!(
            parse_network("10.20.0.15").unwrap().to_string(),
            "10.20.0.15/32"
        );
        assert_eq!(
            parse_network(" 10.20.0.9/24 ").unwrap().to_string(),
            "10.20.0.0/24"
        );
        assert!(parse_network("fd12:3456:789a::/64").is_ok());
        assert_eq!(parse_network("nonsense"), Err(NetworkError::Parse));
        assert!(matches!(
            parse_network("8.8.8.8"),
            Err(NetworkError::Public(_))
        ));
        assert!(matches!(
            parse_network("10.0.0.0/8"),
            Err(NetworkError::TooBroad(_))
        ));
        for forbidden in [
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "fe80::1/64",
            "2002:7f00:1::/48",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert!(
                matches!(parse_network(forbidden), Err(NetworkError::Forbidden(_))),
                "{forbidden}"
            );
        }
    }
}
