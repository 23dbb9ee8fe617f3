//! `create_aradjustment` (spec §6.7, option B): an AR-only credit memo
//! (negative line amounts) or debit memo (positive), stored as an ARADJUSTMENT
//! record that `read`/`readByQuery` return. Its `<key>` is the RECORDNO.
//!
//! Decisions **[P]**: lines need a GL account number (`accountlabel` is not
//! configured in the simulated company); a line's location may come from an
//! entity-level session; every error of a request is reported at once, in the
//! shape of `create_sotransaction`'s, naming the line and the field.

use super::Element;
use super::wire::{ArAdjustment, format_date};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::sales::{CURRENCIES, INVALID_VALUE, REQUIRED_FIELD, check_ref, collect, decimal, money};
use super::store::{self, NewRecord};
use super::{Ctx, Done, Fail, FnError, FnResult};

pub const ARADJUSTMENT: &str = "ARADJUSTMENT";

fn fail(errorno: &str, description: &str, description2: String, correction: &str) -> FnError {
    Fail::new(errorno, description, &description2, correction).into()
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub async fn create(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let adj: ArAdjustment = call.deserialize().map_err(|e| {
        fail(
            REQUIRED_FIELD,
            "Invalid AR adjustment",
            format!("create_aradjustment could not be read: {e}."),
            "Send customerid, datecreated (year, month, day) and aradjustmentitems/lineitem in DTD order.",
        )
    })?;
    let mut errors: Option<Fail> = None;
    let customer = adj.customerid.trim();
    let customer_name = if customer.is_empty() {
        collect(
            &mut errors,
            fail(
                REQUIRED_FIELD,
                "Required field missing",
                "customerid is required.".into(),
                "Send customerid.",
            ),
        )?;
        String::new()
    } else {
        match check_ref(ctx, conn, "CUSTOMER", customer, "Customer", None).await {
            Ok(c) => c
                .and_then(|c| {
                    c.fields
                        .get("NAME")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default(),
            Err(e) => {
                collect(&mut errors, e)?;
                String::new()
            }
        }
    };
    let date = adj.datecreated.to_date();
    if date.is_none() {
        collect(
            &mut errors,
            fail(
                INVALID_VALUE,
                "Invalid date",
                format!(
                    "datecreated '{}-{}-{}' is not a valid date.",
                    adj.datecreated.year, adj.datecreated.month, adj.datecreated.day
                ),
                "Send datecreated as year, month and day of a real date.",
            ),
        )?;
    }
    let state = match non_empty(&adj.action) {
        None | Some("Submit") => "Posted",
        Some("Draft") => "Draft",
        Some(other) => {
            collect(
                &mut errors,
                fail(
                    INVALID_VALUE,
                    "Invalid action",
                    format!("action '{other}' must be Draft or Submit."),
                    "Send Draft or Submit, or leave action out.",
                ),
            )?;
            "Posted"
        }
    };
    if let Some(c) = non_empty(&adj.currency)
        && !CURRENCIES.contains(&c)
    {
        collect(
            &mut errors,
            fail(
                INVALID_VALUE,
                "Invalid currency",
                format!("Currency '{c}' is not enabled."),
                "",
            ),
        )?;
    }
    let lines = &adj.aradjustmentitems.lineitem;
    if lines.is_empty() {
        collect(
            &mut errors,
            fail(
                REQUIRED_FIELD,
                "Required field missing",
                "An AR adjustment needs at least one aradjustmentitems/lineitem.".into(),
                "Send one lineitem per GL account with its amount.",
            ),
        )?;
    }
    let mut total = Decimal::ZERO;
    let mut items = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let account = non_empty(&line.glaccountno);
        match account {
            None => collect(
                &mut errors,
                fail(
                    REQUIRED_FIELD,
                    "Required field missing",
                    format!("Line {n}: glaccountno is required."),
                    "Send glaccountno on each lineitem.",
                ),
            )?,
            Some(a) => {
                if let Err(e) = check_ref(ctx, conn, "GLACCOUNT", a, "GL account", Some(n)).await {
                    collect(&mut errors, e)?;
                }
            }
        }
        let amount = decimal(line.amount.trim()).filter(|a| !a.is_zero());
        match amount {
            Some(a) => total += a,
            None => collect(
                &mut errors,
                fail(
                    INVALID_VALUE,
                    "Invalid amount",
                    format!(
                        "Line {n}: amount '{}' must be a non-zero number (negative for a credit memo).",
                        line.amount
                    ),
                    "",
                ),
            )?,
        }
        let location = match (non_empty(&line.locationid), ctx.location_id) {
            (Some(l), _) => {
                if let Err(e) = check_ref(ctx, conn, "LOCATION", l, "Location", Some(n)).await {
                    collect(&mut errors, e)?;
                }
                l.to_owned()
            }
            (None, Some(entity)) => entity.to_owned(),
            (None, None) => {
                collect(
                    &mut errors,
                    fail(
                        REQUIRED_FIELD,
                        "Location required",
                        format!(
                            "Line {n}: a location (entity) is required on every line because the company is multi-entity."
                        ),
                        "Send locationid on each lineitem.",
                    ),
                )?;
                String::new()
            }
        };
        for (value, object, what) in [
            (&line.departmentid, "DEPARTMENT", "Department"),
            (&line.classid, "CLASS", "Class"),
            (&line.itemid, "ITEM", "Item"),
        ] {
            if let Some(v) = non_empty(value)
                && let Err(e) = check_ref(ctx, conn, object, v, what, Some(n)).await
            {
                collect(&mut errors, e)?;
            }
        }
        items.push(json!({
            "LINE_NO": i.to_string(),
            "ACCOUNTNO": account.unwrap_or_default(),
            "AMOUNT": amount.map(money).unwrap_or_default(),
            "MEMO": non_empty(&line.memo).unwrap_or_default(),
            "LOCATIONID": location,
            "DEPARTMENTID": non_empty(&line.departmentid).unwrap_or_default(),
        }));
    }
    if let Some(errors) = errors {
        return Err(errors.into());
    }
    let date = date.map(format_date).unwrap_or_default();
    let number = non_empty(&adj.adjustmentno).map(str::to_owned);
    let fields = json!({
        "RECORDID": number.clone().unwrap_or_default(),
        "CUSTOMERID": customer,
        "CUSTOMERNAME": customer_name,
        "DESCRIPTION": non_empty(&adj.description).unwrap_or_default(),
        "STATE": state,
        "WHENCREATED": date,
        "WHENPOSTED": date,
        "TOTALENTERED": money(total),
        "TOTALDUE": money(total),
        "TOTALPAID": "0.00",
        "CURRENCY": non_empty(&adj.currency).unwrap_or("USD"),
        "INVOICENO": non_empty(&adj.invoiceno).unwrap_or_default(),
        "ITEMS": {"aradjustmentitem": items},
    });
    let record = store::insert(
        conn,
        ctx.pair_id,
        NewRecord {
            object: ARADJUSTMENT,
            object_id: None,
            docparid: None,
            reference: number,
            fields: fields.as_object().cloned().unwrap_or_default(),
        },
        ctx.now,
    )
    .await?;
    Ok(Done {
        elements: vec![Element::leaf("key", record.recordno.to_string())],
        usage: 1,
    })
}
