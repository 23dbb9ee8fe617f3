//! Which flows a pair runs: each of design.md's eight flows is switched on or
//! off per pair, and a polling flow has its schedule. A new pair runs orders
//! only; the tenant turns the rest on from the pair page or the API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Erp;
use crate::audit;
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::ids::{PairId, TenantId};
use crate::state::AppState;

/// Polls run at most this often, and by default every five minutes.
pub const MIN_INTERVAL_S: i64 = 60;
pub const MAX_INTERVAL_S: i64 = 86_400;
pub const DEFAULT_INTERVAL_S: i64 = 300;

/// Who wins when a customer changed on both sides.
pub const CONFLICT_RULES: [&str; 3] = connect_jobs::flows::ConflictRule::NAMES;

/// What the built-in customers templates say (`settings.conflict_rule`).
pub const DEFAULT_CONFLICT_RULE: &str = "newest_wins";

/// One of the flows a pair can run, as the pair page describes it.
pub struct FlowKind {
    pub name: &'static str,
    /// What it does, in one sentence.
    pub does: &'static str,
    /// Reads its source on a schedule.
    pub polls: bool,
    /// Runs on Clarity's webhooks.
    pub webhooks: bool,
}

/// Every flow, in design.md's order.
pub const KINDS: [FlowKind; 8] = [
    FlowKind {
        name: "orders",
        does: "Creates each new Clarity order in the ERP as a sales order, once.",
        polls: false,
        webhooks: true,
    },
    FlowKind {
        name: "customers",
        does: "Keeps customers the same on both sides, with a rule for who wins when both changed.",
        polls: true,
        webhooks: true,
    },
    FlowKind {
        name: "products",
        does: "Creates and updates Clarity products, prices and availability from the ERP's items.",
        polls: true,
        webhooks: false,
    },
    FlowKind {
        name: "inventory",
        does: "Sets Clarity's stock per SKU and location to the ERP's on-hand quantity each time it changes.",
        polls: true,
        webhooks: false,
    },
    FlowKind {
        name: "shipments",
        does: "Marks Clarity orders shipped, with carrier and tracking, when the ERP ships them.",
        polls: true,
        webhooks: false,
    },
    FlowKind {
        name: "payments",
        does: "Records each paid Clarity order in the ERP as a payment applied to its invoice.",
        polls: false,
        webhooks: true,
    },
    FlowKind {
        name: "returns",
        does: "Records each Clarity return or refund in the ERP as a credit against the order.",
        polls: false,
        webhooks: true,
    },
    FlowKind {
        name: "invoices",
        does: "Puts the ERP's invoice number, amounts and status on the Clarity order.",
        polls: true,
        webhooks: false,
    },
];

pub fn kind(flow: &str) -> Option<&'static FlowKind> {
    KINDS.iter().find(|k| k.name == flow)
}

/// Why a flow cannot run on a pair with this ERP, if it cannot.
pub fn unavailable(flow: &str, erp: Erp) -> Option<&'static str> {
    if flow == "payments" && erp == Erp::Sagepro {
        return Some(
            "Sage Pro's API has no payment endpoint: payments are recorded in Sage Pro itself",
        );
    }
    if connect_jobs::flows::by_name(flow).is_none() {
        return Some("this flow does not run yet; its template can be edited and previewed");
    }
    None
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub succeeded: i64,
    pub failed: i64,
}

/// One flow of a pair: `GET /api/v1/pairs/{id}/flows`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairFlow {
    pub flow: String,
    /// What the flow does, in one sentence.
    pub description: String,
    /// `webhook`, `poll`, or `webhook_and_poll` (customers: Clarity's
    /// webhooks one way, polling the ERP the other).
    pub trigger: String,
    /// Whether it reads its source on a schedule (`interval_s`, *Poll now*,
    /// backfills).
    pub polls: bool,
    pub enabled: bool,
    pub available: bool,
    /// Why the flow is unavailable, when it is.
    pub reason: Option<String>,
    /// How often a polling flow reads its source.
    pub interval_s: i64,
    /// Customers only: `erp_wins`, `clarity_wins` or `newest_wins`.
    pub conflict_rule: Option<String>,
    pub last_run_at: Option<i64>,
    /// When a polling flow last read its source, changes or not.
    pub last_poll_at: Option<i64>,
    /// The next scheduled poll (polling flows that are on).
    pub next_run_at: Option<i64>,
    /// Where the last poll stopped reading, as the source's connector keeps it.
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<Value>,
    pub counts_24h: Counts,
    /// The flow's latest backfill and its progress, if it had one.
    pub backfill: Option<super::backfill::Backfill>,
}

/// `PUT /api/v1/pairs/{id}/flows/{flow}`: fields left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowUpdate {
    pub enabled: Option<bool>,
    pub interval_s: Option<i64>,
    pub conflict_rule: Option<String>,
}

/// What a valid [`FlowUpdate`] changes.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowChange {
    pub enabled: Option<bool>,
    pub interval_s: Option<i64>,
    pub conflict_rule: Option<String>,
}

impl FlowChange {
    /// Checks an update against the flow and the pair's ERP; the error names
    /// the field and the reason.
    pub fn parse(flow: &FlowKind, erp: Erp, update: FlowUpdate) -> Result<Self, ApiError> {
        if update.enabled == Some(true)
            && let Some(why) = unavailable(flow.name, erp)
        {
            return Err(ApiError::invalid(
                "enabled",
                format!("the {} flow cannot be turned on: {why}", flow.name),
            ));
        }
        if let Some(s) = update.interval_s {
            if !flow.polls {
                return Err(ApiError::invalid(
                    "interval_s",
                    format!(
                        "the {} flow runs on Clarity's webhooks, not on a schedule",
                        flow.name
                    ),
                ));
            }
            if !(MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&s) {
                return Err(ApiError::invalid(
                    "interval_s",
                    format!(
                        "{s} is out of range: polls run every {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds"
                    ),
                ));
            }
        }
        if let Some(rule) = &update.conflict_rule {
            if flow.name != "customers" {
                return Err(ApiError::invalid(
                    "conflict_rule",
                    "only the customers flow, which runs both ways, has a conflict rule",
                ));
            }
            if !CONFLICT_RULES.contains(&rule.as_str()) {
                return Err(ApiError::invalid(
                    "conflict_rule",
                    format!(
                        "`{rule}` is not a rule: use one of {}",
                        CONFLICT_RULES.join(", ")
                    ),
                ));
            }
        }
        Ok(Self {
            enabled: update.enabled,
            interval_s: update.interval_s,
            conflict_rule: update.conflict_rule,
        })
    }
}

type SettingsRow = (
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// The pair's flows, every one of [`KINDS`] in order.
pub async fn list(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
) -> Result<Vec<PairFlow>, ApiError> {
    let pair = super::get(state, tenant_id, pair_id).await?;
    let settings: Vec<SettingsRow> = sqlx::query_as(
        "SELECT f.flow, f.enabled, f.interval_s, f.conflict_rule, f.next_poll_at, c.position, f.last_poll_at \
         FROM pair_flows f LEFT JOIN flow_cursors c ON c.pair_id = f.pair_id AND c.flow = f.flow \
         WHERE f.tenant_id = $1 AND f.pair_id = $2",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .fetch_all(state.db.pool())
    .await?;
    let since = now_ms() - 24 * 3600 * 1000;
    let runs: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT flow, \
                COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN status IN ('failed','dead') THEN 1 ELSE 0 END), 0), \
                MAX(updated_at) \
         FROM runs WHERE tenant_id = $1 AND pair_id = $2 AND updated_at > $3 GROUP BY flow",
    )
    .bind(tenant_id)
    .bind(pair_id)
    .bind(since)
    .fetch_all(state.db.pool())
    .await?;
    let mut flows: Vec<PairFlow> = KINDS
        .iter()
        .map(|kind| {
            let stored = settings.iter().find(|s| s.0 == kind.name);
            let counted = runs.iter().find(|r| r.0 == kind.name);
            let reason = unavailable(kind.name, pair.erp);
            let enabled = stored.is_some_and(|s| s.1 != 0) && reason.is_none();
            PairFlow {
                flow: kind.name.to_owned(),
                description: kind.does.to_owned(),
                trigger: match (kind.webhooks, kind.polls) {
                    (true, true) => "webhook_and_poll",
                    (false, true) => "poll",
                    _ => "webhook",
                }
                .to_owned(),
                polls: kind.polls,
                enabled,
                available: reason.is_none(),
                reason: reason.map(str::to_owned),
                interval_s: stored.map_or(DEFAULT_INTERVAL_S, |s| s.2),
                conflict_rule: match kind.name {
                    "customers" => Some(
                        stored
                            .and_then(|s| s.3.clone())
                            .unwrap_or_else(|| DEFAULT_CONFLICT_RULE.to_owned()),
                    ),
                    _ => None,
                },
                last_run_at: counted.and_then(|r| r.3),
                last_poll_at: stored.and_then(|s| s.6),
                next_run_at: stored.and_then(|s| s.4).filter(|_| enabled && kind.polls),
                cursor: stored
                    .and_then(|s| s.5.as_deref())
                    .and_then(|p| serde_json::from_str(p).ok()),
                counts_24h: Counts {
                    succeeded: counted.map_or(0, |r| r.1),
                    failed: counted.map_or(0, |r| r.2),
                },
                backfill: None,
            }
        })
        .collect();
    for f in flows.iter_mut().filter(|f| f.polls) {
        f.backfill = super::backfill::latest(state, tenant_id, pair_id, &f.flow).await?;
    }
    Ok(flows)
}

/// One flow of the pair; an unknown flow name is "not found".
pub async fn get(
    state: &AppState,
    tenant_id: &TenantId,
    pair_id: &PairId,
    flow: &str,
) -> Result<PairFlow, ApiError> {
    let unknown = || ApiError::NotFound("flow not found");
    kind(flow).ok_or_else(unknown)?;
    list(state, tenant_id, pair_id)
        .await?
        .into_iter()
        .find(|f| f.flow == flow)
        .ok_or_else(unknown)
}

/// Changes a flow's settings (managers only), audited.
pub async fn update(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    update: FlowUpdate,
) -> Result<PairFlow, ApiError> {
    who.require_manager()?;
    let current = get(state, &who.tenant_id, pair_id, flow).await?;
    let pair = super::get(state, &who.tenant_id, pair_id).await?;
    let kind = kind(flow).ok_or(ApiError::NotFound("flow not found"))?;
    let change = FlowChange::parse(kind, pair.erp, update)?;
    let enabled = change.enabled.unwrap_or(current.enabled);
    let interval_s = change.interval_s.unwrap_or(current.interval_s);
    let conflict_rule = change.conflict_rule.clone().or(current.conflict_rule);
    let now = now_ms();
    // A polling flow turned on, or put on a new schedule, polls now; one
    // left as it was keeps its next poll.
    let unchanged = current.enabled && current.interval_s == interval_s;
    let next_poll_at = match (kind.polls && enabled, unchanged) {
        (false, _) => None,
        (true, true) => current.next_run_at.or(Some(now)),
        (true, false) => Some(now),
    };
    let mut tx = state.db.begin_write().await?;
    if enabled && !current.enabled {
        let counted = crate::billing::Counted::FlowsPerPair;
        crate::billing::enforce::check(
            &state.db,
            &mut tx,
            &who.tenant_id,
            counted,
            Some(pair_id.as_str()),
        )
        .await??;
    }
    sqlx::query(
        "UPDATE pair_flows SET enabled = $1, interval_s = $2, conflict_rule = $3, next_poll_at = $4, \
         updated_at = $5 WHERE tenant_id = $6 AND pair_id = $7 AND flow = $8",
    )
    .bind(i64::from(enabled))
    .bind(interval_s)
    .bind(&conflict_rule)
    .bind(next_poll_at)
    .bind(now)
    .bind(&who.tenant_id)
    .bind(pair_id)
    .bind(flow)
    .execute(&mut *tx)
    .await?;
    let detail = format!(
        "{flow}: {}, every {interval_s} s{}",
        if enabled { "on" } else { "off" },
        conflict_rule
            .as_deref()
            .map(|r| format!(", conflicts: {r}"))
            .unwrap_or_default()
    );
    audit::record(
        &mut tx,
        Some(&who.tenant_id),
        &who.actor(),
        "flow.updated",
        Some(pair_id.as_str()),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    get(state, &who.tenant_id, pair_id, flow).await
}

/// Checks that the flow can be polled now (managers only): a polling flow
/// that is on. The poll itself is the sync engine's (`sync::schedule`).
pub async fn check_pollable(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
) -> Result<(), ApiError> {
    who.require_operator()?;
    let current = get(state, &who.tenant_id, pair_id, flow).await?;
    if !current.polls {
        return Err(ApiError::invalid(
            "flow",
            format!("the {flow} flow runs on Clarity's webhooks; there is nothing to poll"),
        ));
    }
    if !current.enabled {
        return Err(ApiError::invalid(
            "enabled",
            match current.reason {
                Some(why) => format!("the {flow} flow cannot run: {why}"),
                None => format!("the {flow} flow is off; turn it on first"),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> FlowUpdate {
        serde_json::from_str(json).unwrap()
    }

    fn field(e: ApiError) -> String {
        e.field().unwrap_or_default().to_owned()
    }

    #[test]
    fn every_flow_of_the_design_is_listed_once() {
        let names: Vec<_> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names, connect_jobs::mapping::FLOWS);
    }

    #[test]
    fn payments_cannot_run_on_sage_pro_and_the_reason_says_why() {
        let why = unavailable("payments", Erp::Sagepro).unwrap();
        assert!(why.contains("no payment endpoint"), "{why}");
        let e = FlowChange::parse(
            kind("payments").unwrap(),
            Erp::Sagepro,
            update(r#"{"enabled":true}"#),
        )
        .unwrap_err();
        assert_eq!(field(e), "enabled");
        // Turning it off is always allowed.
        assert!(
            FlowChange::parse(
                kind("payments").unwrap(),
                Erp::Sagepro,
                update(r#"{"enabled":false}"#)
            )
            .is_ok()
        );
    }

    #[test]
    fn orders_run_on_both_erps() {
        assert_eq!(unavailable("orders", Erp::Intacct), None);
        assert_eq!(unavailable("orders", Erp::Sagepro), None);
    }

    #[test]
    fn a_schedule_is_for_polling_flows_within_bounds() {
        let orders = kind("orders").unwrap();
        let e =
            FlowChange::parse(orders, Erp::Intacct, update(r#"{"interval_s":120}"#)).unwrap_err();
        assert_eq!(field(e), "interval_s");
        let inventory = kind("inventory").unwrap();
        for bad in [0, 59, MAX_INTERVAL_S + 1, -5] {
            let e = FlowChange::parse(
                inventory,
                Erp::Intacct,
                update(&format!(r#"{{"interval_s":{bad}}}"#)),
            )
            .unwrap_err();
            assert_eq!(field(e), "interval_s", "{bad}");
        }
        let ok =
            FlowChange::parse(inventory, Erp::Intacct, update(r#"{"interval_s":60}"#)).unwrap();
        assert_eq!(ok.interval_s, Some(60));
    }

    #[test]
    fn a_conflict_rule_is_for_customers_and_must_be_known() {
        let customers = kind("customers").unwrap();
        let e = FlowChange::parse(
            customers,
            Erp::Intacct,
            update(r#"{"conflict_rule":"loudest_wins"}"#),
        )
        .unwrap_err();
        assert_eq!(field(e), "conflict_rule");
        let e = FlowChange::parse(
            kind("products").unwrap(),
            Erp::Intacct,
            update(r#"{"conflict_rule":"erp_wins"}"#),
        )
        .unwrap_err();
        assert_eq!(field(e), "conflict_rule");
        let ok = FlowChange::parse(
            customers,
            Erp::Intacct,
            update(r#"{"conflict_rule":"newest_wins"}"#),
        )
        .unwrap();
        assert_eq!(ok.conflict_rule.as_deref(), Some("newest_wins"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<FlowUpdate>(r#"{"enabled":true,"speed":3}"#).is_err());
    }
}
