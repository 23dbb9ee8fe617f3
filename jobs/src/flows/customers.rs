//! Customers, both ways: a Clarity customer (`customer.created/updated`
//! webhooks) becomes or updates the ERP customer ([`Customers`]), and an ERP
//! customer changed since the last poll becomes or updates the Clarity
//! customer ([`ErpCustomers`]), each through its direction's template.
//!
//! A customer in both systems is linked in the ledger, once per side
//! (`clarity:{id}` → the ERP's id, `erp:{id}` → Clarity's), and each link
//! keeps what this product last wrote to the other side. That is what stops
//! a loop: our write to Clarity comes back as a `customer.updated` webhook,
//! and a change whose content is what we wrote is skipped as "our own
//! write". Before writing, the target's record is read; a record that
//! already holds everything the change would write is left alone, which
//! also settles an echo that overtakes its link.
//!
//! When both systems have the customer, the pair's conflict rule decides:
//! `erp_wins` or `clarity_wins` make one system the master (the other's
//! changes are skipped, and the run says so); `newest_wins` writes a change
//! only when it is newer than the target's last modification.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::cursor::{self, Polled, page};
use super::ledger::{LedgerKey, Link, idempotency_key};
use super::{
    ConflictRule, ErpTarget, Flow, FlowContext, FlowError, Needs, PollContext, PollPage, Side,
    Trigger, Written, accepted_output,
};
use crate::connectors::ConnectorError;
use crate::connectors::clarity::Created;
use crate::connectors::intacct::functions::{Object, Record};
use crate::connectors::sagepro::wire::CustomerInput;
use crate::mapping::pipeline::map_record;

/// The event type of one changed ERP customer.
pub const RECORD_EVENT: &str = "erp.customer";

/// The customer fields the ERP → Clarity template reads (spec §6.2).
const INTACCT_FIELDS: [&str; 8] = [
    "CUSTOMERID",
    "NAME",
    "STATUS",
    "CURRENCY",
    "TERMNAME",
    "CUSTTYPE",
    "DISPLAYCONTACT",
    "WHENMODIFIED",
];

/// Clarity → ERP, on Clarity's webhooks.
pub struct Customers;

/// ERP → Clarity, polled by modified time.
pub struct ErpCustomers;

#[async_trait::async_trait]
impl Flow for Customers {
    fn name(&self) -> &'static str {
        "customers"
    }
    fn noun(&self) -> &'static str {
        "customer"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Webhook(&["customer.created", "customer.updated"])
    }
    fn source(&self) -> Side {
        Side::Clarity
    }
    fn target(&self) -> Side {
        Side::Erp
    }
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        text(&event["data"]["object"], "customerId")
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        to_erp(ctx, event).await
    }
}

#[async_trait::async_trait]
impl Flow for ErpCustomers {
    fn name(&self) -> &'static str {
        "customers"
    }
    fn noun(&self) -> &'static str {
        "customer"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Poll {
            record: RECORD_EVENT,
        }
    }
    fn source(&self) -> Side {
        Side::Erp
    }
    fn target(&self) -> Side {
        Side::Clarity
    }
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn source_id(&self, event: &Value) -> Option<String> {
        erp_id(event)
    }
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
        to_clarity(ctx, event).await
    }
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        let cursor = cursor::stored("customers", cursor)?;
        let from = cursor.as_ref().and_then(|c| c.modified_ms);
        let rows = cursor::read_changed(
            ctx.erp,
            from,
            "CUSTOMER",
            &INTACCT_FIELDS,
            |client, since| client.list_customers(since, &[]),
        )
        .await?;
        let rows = rows
            .into_iter()
            .filter_map(|(record, at)| {
                Some(Polled {
                    subject: erp_id(&record)?,
                    version: cursor::version_of(&record),
                    record,
                    at,
                })
            })
            .collect();
        Ok(page(
            "customers",
            cursor.as_ref(),
            rows,
            cursor::overlap(ctx.erp),
        ))
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The ERP's id of a customer: Intacct `CUSTOMERID`, Sage Pro `CustomerNo`.
fn erp_id(record: &Value) -> Option<String> {
    text(record, "CUSTOMERID").or_else(|| text(record, "CustomerNo"))
}

fn clarity_link(id: &str) -> LedgerKey {
    LedgerKey {
        flow: "customers",
        source_id: format!("clarity:{id}"),
        operation: "link",
    }
}

fn erp_link(id: &str) -> LedgerKey {
    LedgerKey {
        flow: "customers",
        source_id: format!("erp:{id}"),
        operation: "link",
    }
}

/// Whether `record` holds everything `written` says, scalars compared as
/// text (an ERP answers `"1500.00"` for `1500`), empty and absent alike.
pub fn holds(record: &Value, written: &Value) -> bool {
    match written {
        Value::Object(fields) => fields.iter().all(|(k, w)| {
            let r = record
                .get(k)
                .or_else(|| {
                    record.as_object().and_then(|o| {
                        o.iter()
                            .find(|(rk, _)| rk.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v)
                    })
                })
                .unwrap_or(&Value::Null);
            holds(r, w)
        }),
        Value::Array(items) => record.as_array().is_some_and(|r| {
            r.len() == items.len() && r.iter().zip(items).all(|(r, w)| holds(r, w))
        }),
        scalar => scalar_text(record) == scalar_text(scalar),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => {
            let s = s.trim();
            // Numbers as numbers: "1500.00" and 1500 are one amount.
            match s.parse::<rust_decimal::Decimal>() {
                Ok(d) => d.normalize().to_string(),
                Err(_) => s.to_owned(),
            }
        }
        Value::Number(n) => n
            .to_string()
            .parse::<rust_decimal::Decimal>()
            .map(|d| d.normalize().to_string())
            .unwrap_or_else(|_| n.to_string()),
        Value::Bool(b) => b.to_string(),
        // Containers against a scalar never match.
        other => other.to_string(),
    }
}

fn rfc3339_ms(t: &str) -> Option<i64> {
    OffsetDateTime::parse(t.trim(), &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// An ERP record's last modification, in ms (Intacct's in the company's zone).
fn erp_modified(erp: &ErpTarget, record: &Value) -> Option<i64> {
    let intacct = |t: &str| match erp {
        ErpTarget::Intacct(client) => client.instant_of(t),
        ErpTarget::Sagepro(_) => None,
    };
    record
        .get("WHENMODIFIED")
        .and_then(Value::as_str)
        .and_then(intacct)
        .or_else(|| {
            record
                .get("LastModified")
                .and_then(Value::as_str)
                .and_then(rfc3339_ms)
        })
}

fn erp_label(erp: &ErpTarget) -> &'static str {
    match erp {
        ErpTarget::Intacct(_) => "Intacct",
        ErpTarget::Sagepro(_) => "Sage Pro",
    }
}

/// The ERP's customer as it stands, if it has one with this id.
async fn read_erp(erp: &ErpTarget, id: &str) -> Result<Option<Value>, ConnectorError> {
    match erp {
        ErpTarget::Intacct(client) => {
            let quoted = id.replace('\'', "''");
            let found = client
                .read_by_query(
                    "CUSTOMER",
                    &INTACCT_FIELDS,
                    &format!("CUSTOMERID = '{quoted}'"),
                    1,
                )
                .await?;
            Ok(found.into_iter().next().map(Value::Object))
        }
        ErpTarget::Sagepro(client) => match client.get_customer(id).await {
            Ok(c) => Ok(serde_json::to_value(c).ok()),
            Err(ConnectorError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Clarity → ERP: one Clarity customer to the ERP.
async fn to_erp(ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError> {
    let object = &event["data"]["object"];
    let cid = text(object, "customerId")
        .ok_or_else(|| FlowError::Event("data.object.customerId is missing".into()))?;
    // An event may carry the whole customer or only its id.
    let customer = if object.get("email").is_some() {
        object.clone()
    } else {
        serde_json::to_value(ctx.clarity.get_customer(&cid).await?)
            .map_err(|e| FlowError::Event(format!("customer {cid}: {e}")))?
    };
    let link = ctx.ledger.link(&clarity_link(&cid)).await?;
    if let Some(link) = &link
        && let Some(back) = ctx.ledger.link(&erp_link(&link.target_id)).await?
        && back.target_id == cid
        && back.content.as_ref().is_some_and(|w| holds(&customer, w))
    {
        return Ok(Written::skipped(
            cid,
            link.target_id.clone(),
            "our own write: the Clarity customer holds what this pair last wrote to it".into(),
        ));
    }
    let mut mapped = map_record(ctx.template, ctx.schema, &cid, &customer, &ctx.inputs);
    let output = accepted_output(&mut mapped)?;
    let label = erp_label(ctx.erp);
    // The ERP id: the one linked, else what the template names.
    let named = match ctx.erp {
        ErpTarget::Intacct(_) => text(&output, "CUSTOMERID"),
        ErpTarget::Sagepro(_) => text(&output, "CustomerNo"),
    };
    let eid = link.as_ref().map(|l| l.target_id.clone()).or(named);
    let current = match &eid {
        Some(id) => read_erp(ctx.erp, id).await?,
        None => None,
    };
    if let (Some(id), Some(current)) = (&eid, &current) {
        if ctx.attempt > 1 && holds(current, &output) {
            // An earlier attempt's write reached the ERP, its answer did
            // not: the change is written, not in conflict with itself.
            ctx.ledger
                .set_link(&clarity_link(&cid), id, Some(output))
                .await?;
            ctx.ledger.set_link(&erp_link(id), &cid, None).await?;
            return Ok(Written {
                created: link.is_none(),
                ..Written::created(cid, id.clone(), mapped.flags)
            });
        }
        if let Some(why) = conflict(
            ctx.conflict_rule,
            Side::Clarity,
            label,
            customer
                .get("updatedDate")
                .and_then(Value::as_str)
                .and_then(rfc3339_ms),
            erp_modified(ctx.erp, current),
        ) {
            return Ok(Written::skipped(cid, id.clone(), why));
        }
        if holds(current, &output) {
            ctx.ledger
                .set_link(&clarity_link(&cid), id, Some(output))
                .await?;
            ctx.ledger.set_link(&erp_link(id), &cid, None).await?;
            return Ok(Written::skipped(
                cid,
                id.clone(),
                format!("already in step: the {label} customer holds this change"),
            ));
        }
    }
    let exists = current.is_some();
    let write_key = idempotency_key(
        "clarity",
        "customers",
        &format!("{cid}:{}", cursor::digest(&output)),
        if exists { "update" } else { "create" },
    );
    let eid = match ctx.erp {
        ErpTarget::Intacct(client) => {
            let record: Record = match &output {
                Value::Object(o) => o.clone(),
                _ => Map::new(),
            };
            let done = if exists {
                client.update(&write_key, Object::Customer, &record).await?
            } else {
                client.create(&write_key, Object::Customer, &record).await?
            };
            done.id
                .or(eid)
                .unwrap_or_else(|| format!("RECORDNO {}", done.recordno))
        }
        ErpTarget::Sagepro(client) => {
            let input: CustomerInput =
                serde_json::from_value(output.clone()).map_err(|e| FlowError::Mapping {
                    target: "customer".into(),
                    message: format!("the template's output is not a Sage Pro customer: {e}"),
                })?;
            let written = match (&eid, exists) {
                (Some(no), true) => client.update_customer(&write_key, no, &input, None).await?,
                _ => client.create_customer(&write_key, &input).await?,
            };
            written.customer_no
        }
    };
    ctx.ledger
        .set_link(&clarity_link(&cid), &eid, Some(output))
        .await?;
    ctx.ledger.set_link(&erp_link(&eid), &cid, None).await?;
    Ok(Written {
        created: !exists,
        ..Written::created(cid, eid, mapped.flags)
    })
}

/// ERP → Clarity: one changed ERP customer to Clarity.
async fn to_clarity(ctx: &FlowContext<'_>, record: &Value) -> Result<Written, FlowError> {
    let eid = erp_id(record)
        .ok_or_else(|| FlowError::Event("the customer has no CUSTOMERID or CustomerNo".into()))?;
    let label = erp_label(ctx.erp);
    let link: Option<Link> = ctx.ledger.link(&erp_link(&eid)).await?;
    if let Some(link) = &link
        && let Some(back) = ctx.ledger.link(&clarity_link(&link.target_id)).await?
        && back.target_id == eid
        && back.content.as_ref().is_some_and(|w| holds(record, w))
    {
        return Ok(Written::skipped(
            eid,
            link.target_id.clone(),
            format!("our own write: the {label} customer holds what this pair last wrote to it"),
        ));
    }
    let mut mapped = map_record(ctx.template, ctx.schema, &eid, record, &ctx.inputs);
    let output = accepted_output(&mut mapped)?;
    let current = match &link {
        Some(l) => match ctx.clarity.get_customer(&l.target_id).await {
            Ok(c) => Some(c),
            Err(ConnectorError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if let Some(current) = &current {
        let cid = current.customer_id.clone();
        let as_value = serde_json::to_value(current).unwrap_or(Value::Null);
        if ctx.attempt > 1 && holds(&as_value, &output) {
            // An earlier attempt's patch reached Clarity, its answer did not.
            ctx.ledger
                .set_link(&erp_link(&eid), &cid, Some(output))
                .await?;
            ctx.ledger.set_link(&clarity_link(&cid), &eid, None).await?;
            return Ok(Written {
                created: false,
                ..Written::created(eid, cid, mapped.flags)
            });
        }
        if let Some(why) = conflict(
            ctx.conflict_rule,
            Side::Erp,
            label,
            erp_modified(ctx.erp, record),
            rfc3339_ms(&current.updated_date),
        ) {
            return Ok(Written::skipped(eid, cid, why));
        }
        if holds(&as_value, &output) {
            ctx.ledger
                .set_link(&erp_link(&eid), &cid, Some(output))
                .await?;
            ctx.ledger.set_link(&clarity_link(&cid), &eid, None).await?;
            return Ok(Written::skipped(
                eid,
                cid,
                "already in step: the Clarity customer holds this change".into(),
            ));
        }
    }
    let (cid, created) = match &current {
        Some(c) => {
            let patched = ctx
                .clarity
                .patch_customer(&c.customer_id, &output, None)
                .await?;
            (patched.customer_id, false)
        }
        None => {
            let key = idempotency_key("erp", "customers", &eid, "create");
            match ctx.clarity.create_customer(&key, &output).await? {
                Created::New(c) => (c.customer_id, true),
                // Clarity knows the email already: that customer is this one.
                Created::Exists { existing_id } => {
                    let patched = ctx
                        .clarity
                        .patch_customer(&existing_id, &output, None)
                        .await?;
                    (patched.customer_id, false)
                }
            }
        }
    };
    ctx.ledger
        .set_link(&erp_link(&eid), &cid, Some(output))
        .await?;
    ctx.ledger.set_link(&clarity_link(&cid), &eid, None).await?;
    Ok(Written {
        source_id: eid,
        target_id: cid,
        created,
        flags: mapped.flags,
        history: None,
        skipped: None,
    })
}

/// Why a change from `from` to a customer both systems have is not written,
/// under the pair's rule; `None` writes it.
fn conflict(
    rule: ConflictRule,
    from: Side,
    erp: &str,
    changed_at: Option<i64>,
    target_modified_at: Option<i64>,
) -> Option<String> {
    let (source, target) = match from {
        Side::Clarity => ("Clarity", erp),
        Side::Erp => (erp, "Clarity"),
    };
    match (rule, from) {
        (ConflictRule::ErpWins, Side::Clarity) => Some(format!(
            "conflict rule erp_wins: {erp} is the master of customers in both systems; the Clarity change is not written"
        )),
        (ConflictRule::ClarityWins, Side::Erp) => Some(format!(
            "conflict rule clarity_wins: Clarity is the master of customers in both systems; the {erp} change is not written"
        )),
        (ConflictRule::NewestWins, _) => match (changed_at, target_modified_at) {
            (Some(changed), Some(modified)) if modified > changed => Some(format!(
                "conflict rule newest_wins: the {target} customer changed at {}, after this {source} change ({})",
                show(modified),
                show(changed)
            )),
            _ => None,
        },
        _ => None,
    }
}

fn show(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_holds_what_was_written_to_it_in_the_systems_own_spelling() {
        let written = json!({"CUSTOMERID": "C-1", "CREDITLIMIT": 1500,
            "DISPLAYCONTACT": {"EMAIL1": "a@b.co", "MAILADDRESS": {"ZIP": "02110", "ADDRESS2": ""}}});
        let read = json!({"CUSTOMERID": "C-1", "CREDITLIMIT": "1500.00", "RECORDNO": "7",
            "DISPLAYCONTACT": {"EMAIL1": "a@b.co", "PHONE1": "1",
                "MAILADDRESS": {"ZIP": "02110"}}});
        assert!(holds(&read, &written));
        let mut changed = read.clone();
        changed["DISPLAYCONTACT"]["EMAIL1"] = json!("new@b.co");
        assert!(!holds(&changed, &written));
        assert!(!holds(&json!({"CUSTOMERID": "C-1"}), &written));
    }

    #[test]
    fn the_rule_names_the_master_or_the_newer_side() {
        let why = conflict(ConflictRule::ErpWins, Side::Clarity, "Intacct", None, None);
        assert!(why.unwrap().contains("erp_wins"));
        assert_eq!(
            conflict(ConflictRule::ErpWins, Side::Erp, "Intacct", None, None),
            None
        );
        assert!(conflict(ConflictRule::ClarityWins, Side::Erp, "Sage Pro", None, None).is_some());
        let why = conflict(
            ConflictRule::NewestWins,
            Side::Clarity,
            "Intacct",
            Some(1_000),
            Some(2_000),
        )
        .unwrap();
        assert!(why.contains("the Intacct customer changed at"), "{why}");
        assert_eq!(
            conflict(
                ConflictRule::NewestWins,
                Side::Clarity,
                "Intacct",
                Some(3_000),
                Some(2_000)
            ),
            None
        );
    }
}
