//! Order Entry transactions (spec §6.1): `create_sotransaction`,
//! `update_sotransaction`, and the sales-order listing behind
//! `GET /api/v1/pairs/{id}/sandbox/erp/sales-orders`.
//!
//! A document is stored as one SODOCUMENT record whose fields hold its lines
//! (`SODOCUMENTENTRIES/sodocumententry`, `LINE_NO` 0-based) and subtotals
//! (`SUBTOTALS/sodocumentsubtotals`); its DOCID is `<definition>-<DOCNO>`, unique
//! per company, so a document number cannot repeat within a definition.

use std::str::FromStr;

use super::Element;
use super::wire::{SoTransItem, SoTransaction, errno, format_date};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

use super::query::lookup;
use super::store::{self, NewRecord, Pushdown, Record};
use super::{Ctx, Done, Fail, FnError, FnResult};
use connect_store::Db;

pub const SODOCUMENT: &str = "SODOCUMENT";

/// Placeholder error numbers (the real ones are undocumented; spec §7).
pub const INVALID_REFERENCE: &str = "SIM_INVALID_REFERENCE";
pub const REQUIRED_FIELD: &str = "SIM_REQUIRED_FIELD";
pub const INVALID_VALUE: &str = "SIM_INVALID_VALUE";
pub const RECORD_LOCKED: &str = "SIM_RECORD_LOCKED";
pub const UNBALANCED: &str = "SIM_UNBALANCED";

/// The company's transaction definitions (spec §12: configuration).
pub struct Definition {
    pub name: &'static str,
    pub prefix: &'static str,
    pub posts_to_ar: bool,
    /// Its AR record is a credit (negative), as for returns and credit memos.
    pub credits_ar: bool,
    /// Which inventory total a line moves, and which way.
    pub inventory: Option<(&'static str, i64)>,
}

pub const DEFINITIONS: [Definition; 5] = [
    Definition {
        name: "Sales Order",
        prefix: "SO",
        posts_to_ar: false,
        credits_ar: false,
        inventory: Some(("ONHOLD", 1)),
    },
    // Converted from a sales order when the goods leave: what the shipments
    // flow reads (its template's `shipment_definition`).
    Definition {
        name: "Sales Shipper",
        prefix: "SHP",
        posts_to_ar: false,
        credits_ar: false,
        inventory: Some(("ONHAND", -1)),
    },
    Definition {
        name: "Sales Invoice",
        prefix: "INV",
        posts_to_ar: true,
        credits_ar: false,
        inventory: Some(("ONHAND", -1)),
    },
    Definition {
        name: "Sales Return",
        prefix: "RET",
        posts_to_ar: true,
        credits_ar: true,
        inventory: Some(("ONHAND", 1)),
    },
    // Spec §6.7 option A without goods coming back: credits AR, moves no stock.
    Definition {
        name: "Sales Credit Memo",
        prefix: "CM",
        posts_to_ar: true,
        credits_ar: true,
        inventory: None,
    },
];

pub const CURRENCIES: [&str; 4] = ["USD", "CAD", "EUR", "GBP"];

fn definition(name: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.name == name.trim())
}

pub fn decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty() || s.contains(',') {
        return None;
    }
    Decimal::from_str(s).ok()
}

pub fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn is_active(r: &Record) -> bool {
    lookup(&r.fields, "STATUS").is_none_or(|s| s.eq_ignore_ascii_case("active"))
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A reference to another record that must exist (and be active).
pub(super) async fn check_ref(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    object: &str,
    id: &str,
    what: &str,
    line: Option<usize>,
) -> Result<Option<Record>, FnError> {
    let key = (object.to_owned(), id.to_owned());
    if let Some(r) = ctx.refs.lock().get(&key) {
        return Ok(Some(r.clone()));
    }
    let found = store::by_id(conn, ctx.pair_id, object, id).await?;
    match found {
        Some(r) if is_active(&r) => {
            ctx.refs.lock().insert(key, r.clone());
            Ok(Some(r))
        }
        _ => {
            let at = line.map(|n| format!("Line {n}: ")).unwrap_or_default();
            Err(Fail::new(
                INVALID_REFERENCE,
                &format!("Invalid {what}"),
                &format!("{at}{what} '{id}' does not exist or is inactive."),
                &format!("Use the ID of an existing, active {}.", what.to_lowercase()),
            )
            .into())
        }
    }
}

pub(super) fn collect(errors: &mut Option<Fail>, e: FnError) -> Result<(), FnError> {
    match e {
        FnError::Fail(f) => {
            *errors = Some(match errors.take() {
                Some(prev) => prev.and(f),
                None => f,
            });
            Ok(())
        }
        db => Err(db),
    }
}

/// References read ahead in one query, at most; a bigger order's other
/// references are read one by one as they are checked.
const PREFETCH_MAX: usize = 64;

/// Reads every record the order names (customer, term, contacts, and each
/// line's item, location, warehouse, dimensions and stock row) in one query
/// into the function's memo, so that the checks and the stock moves below
/// find them without a query each. What is missing or inactive is left for
/// the check itself to report.
async fn prefetch_refs(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    order: &SoTransaction,
) -> Result<(), sqlx::Error> {
    let mut keys: Vec<(&str, &str)> = vec![("CUSTOMER", order.customerid.trim())];
    if let Some(t) = non_empty(&order.termname) {
        keys.push(("ARTERM", t));
    }
    for c in [&order.shipto, &order.billto].into_iter().flatten() {
        keys.push(("CONTACT", c.contactname.trim()));
    }
    let stock: Vec<String> = order
        .sotransitems
        .iter()
        .filter_map(|line| {
            non_empty(&line.warehouseid)
                .map(|wh| super::seed::warehouse_info_id(line.itemid.trim(), wh))
        })
        .collect();
    for id in &stock {
        keys.push(("ITEMWAREHOUSEINFO", id));
    }
    for line in &order.sotransitems {
        keys.push(("ITEM", line.itemid.trim()));
        for (object, value) in [
            ("LOCATION", &line.locationid),
            ("WAREHOUSE", &line.warehouseid),
            ("DEPARTMENT", &line.departmentid),
            ("PROJECT", &line.projectid),
            ("CLASS", &line.classid),
        ] {
            if let Some(v) = non_empty(value) {
                keys.push((object, v));
            }
        }
    }
    keys.retain(|(_, id)| !id.is_empty());
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(PREFETCH_MAX);
    let found = store::by_keys(conn, ctx.pair_id, &keys).await?;
    let mut refs = ctx.refs.lock();
    for (object, record) in found {
        if is_active(&record) {
            refs.insert((object, record.object_id.clone()), record);
        }
    }
    Ok(())
}

/// `create_sotransaction`: validates everything, then stores the document and
/// moves inventory. Returns `<key>Sales Order-…</key>`.
pub async fn create(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let order: SoTransaction = call.deserialize().map_err(|e| {
        Fail::new(
            errno::XML_ERROR,
            "XML error",
            &format!("create_sotransaction could not be read: {e}"),
            "Send transactiontype, datecreated (year, month, day), customerid and sotransitems in DTD order.",
        )
    })?;
    let mut errors: Option<Fail> = None;
    prefetch_refs(ctx, conn, &order).await?;

    let def = definition(&order.transactiontype);
    if def.is_none() {
        let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        collect(
            &mut errors,
            Fail::new(
                INVALID_REFERENCE,
                "Invalid transaction definition",
                &format!(
                    "Transaction definition '{}' does not exist. Defined: {}.",
                    order.transactiontype,
                    names.join(", ")
                ),
                "Use the name of a transaction definition of this company.",
            )
            .into(),
        )?;
    }
    let Some(doc_date) = order.datecreated.to_date() else {
        return Err(Fail::new(
            INVALID_VALUE,
            "Invalid date",
            "datecreated is not a valid date.",
            "Send year, month and day of a real calendar date.",
        )
        .into());
    };
    let customer = match check_ref(
        ctx,
        conn,
        "CUSTOMER",
        order.customerid.trim(),
        "Customer",
        None,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            collect(&mut errors, e)?;
            None
        }
    };
    let due_date = match (&order.termname, &order.datedue) {
        (_, Some(d)) => match d.to_date() {
            Some(d) => Some(d),
            None => {
                collect(
                    &mut errors,
                    Fail::new(
                        INVALID_VALUE,
                        "Invalid date",
                        "datedue is not a valid date.",
                        "",
                    )
                    .into(),
                )?;
                None
            }
        },
        (Some(term), None) if !term.trim().is_empty() => {
            match check_ref(ctx, conn, "ARTERM", term.trim(), "Term", None).await {
                Ok(t) => {
                    let days: i64 = t
                        .as_ref()
                        .and_then(|t| lookup(&t.fields, "DUEDAYS"))
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    Some(doc_date + time::Duration::days(days))
                }
                Err(e) => {
                    collect(&mut errors, e)?;
                    None
                }
            }
        }
        _ => {
            collect(
                &mut errors,
                Fail::new(
                    REQUIRED_FIELD,
                    "Missing payment term",
                    "Either a payment term (termname) or a due date (datedue) is required.",
                    "Send termname, e.g. 'Net 30', or datedue.",
                )
                .into(),
            )?;
            None
        }
    };
    for (field, value) in [("basecurr", &order.basecurr), ("currency", &order.currency)] {
        if let Some(c) = non_empty(value)
            && !CURRENCIES.contains(&c)
        {
            collect(
                &mut errors,
                Fail::new(
                    INVALID_VALUE,
                    "Invalid currency",
                    &format!("Currency '{c}' ({field}) is not enabled for this company."),
                    &format!("Use one of {}.", CURRENCIES.join(", ")),
                )
                .into(),
            )?;
        }
    }
    // shipto/billto name an existing CONTACT (spec §6.1).
    for contact in [&order.shipto, &order.billto] {
        if let Some(c) = contact
            && let Err(e) =
                check_ref(ctx, conn, "CONTACT", c.contactname.trim(), "Contact", None).await
        {
            collect(&mut errors, e)?;
        }
    }
    if let Some(from) = non_empty(&order.createdfrom)
        && !store::exists(conn, ctx.pair_id, SODOCUMENT, from).await?
    {
        collect(
            &mut errors,
            Fail::new(
                INVALID_REFERENCE,
                "Invalid source document",
                &format!("createdfrom document '{from}' does not exist."),
                "Use the DOCID of an existing transaction.",
            )
            .into(),
        )?;
    }

    // Lines.
    if order.sotransitems.is_empty() {
        collect(
            &mut errors,
            Fail::new(
                REQUIRED_FIELD,
                "No lines",
                "A transaction needs at least one sotransitem.",
                "",
            )
            .into(),
        )?;
    }
    let mut lines: Vec<(SoTransItem, Option<Record>, Decimal, Decimal, String)> = Vec::new();
    for (i, line) in order.sotransitems.iter().enumerate() {
        let n = i + 1;
        let item = match check_ref(ctx, conn, "ITEM", line.itemid.trim(), "Item", Some(n)).await {
            Ok(r) => r,
            Err(e) => {
                collect(&mut errors, e)?;
                None
            }
        };
        let quantity = match decimal(&line.quantity) {
            Some(q) if q > Decimal::ZERO => q,
            _ => {
                collect(
                    &mut errors,
                    Fail::new(
                        INVALID_VALUE,
                        "Invalid quantity",
                        &format!(
                            "Line {n}: quantity '{}' must be a number greater than zero.",
                            line.quantity
                        ),
                        "Send a positive decimal with '.' as the separator.",
                    )
                    .into(),
                )?;
                Decimal::ZERO
            }
        };
        let price = match &line.price {
            Some(p) => match decimal(p) {
                Some(p) if p >= Decimal::ZERO => p,
                _ => {
                    collect(
                        &mut errors,
                        Fail::new(
                            INVALID_VALUE,
                            "Invalid price",
                            &format!("Line {n}: price '{p}' must be a number of zero or more."),
                            "Send a decimal with '.' as the separator and no thousands separators.",
                        )
                        .into(),
                    )?;
                    Decimal::ZERO
                }
            },
            // Without a price the item's base price applies.
            None => item
                .as_ref()
                .and_then(|r| lookup(&r.fields, "BASEPRICE"))
                .and_then(|p| decimal(&p))
                .unwrap_or(Decimal::ZERO),
        };
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
                    Fail::new(
                        REQUIRED_FIELD,
                        "Location required",
                        &format!(
                            "Line {n}: a location (entity) is required on every line because the company is multi-entity."
                        ),
                        "Send locationid on each line, or sign in to an entity.",
                    )
                    .into(),
                )?;
                String::new()
            }
        };
        for (object, what, value) in [
            ("WAREHOUSE", "Warehouse", &line.warehouseid),
            ("DEPARTMENT", "Department", &line.departmentid),
            ("PROJECT", "Project", &line.projectid),
            ("CLASS", "Class", &line.classid),
        ] {
            if let Some(v) = non_empty(value)
                && let Err(e) = check_ref(ctx, conn, object, v, what, Some(n)).await
            {
                collect(&mut errors, e)?;
            }
        }
        lines.push((line.clone(), item, quantity, price, location));
    }
    let mut subtotal_rows = Vec::new();
    for (i, s) in order.subtotals.iter().enumerate() {
        match decimal(&s.total) {
            Some(t) => subtotal_rows.push((s, t)),
            None => collect(
                &mut errors,
                Fail::new(
                    INVALID_VALUE,
                    "Invalid subtotal",
                    &format!(
                        "Subtotal {} ('{}'): total '{}' is not a number.",
                        i + 1,
                        s.description,
                        s.total
                    ),
                    "",
                )
                .into(),
            )?,
        }
    }
    if let Some(f) = errors {
        return Err(f.into());
    }
    let def = def.expect("checked above");

    // The document number: given, or the definition's next one.
    let docno = match non_empty(&order.documentno) {
        Some(no) => {
            let docid = format!("{}-{no}", def.name);
            if store::exists(conn, ctx.pair_id, SODOCUMENT, &docid).await? {
                return Err(Fail::new(
                    errno::DUPLICATE,
                    "Duplicate document number",
                    &format!(
                        "Document number '{no}' is already used by {docid}; '{}' requires unique document numbers.",
                        def.name
                    ),
                    "Send a new documentno, or leave it empty for automatic numbering.",
                )
                .into());
            }
            no.to_owned()
        }
        None => loop {
            let seq = store::next_counter(conn, ctx.pair_id, &format!("seq:{}", def.name)).await?;
            let no = format!("{}{seq:04}", def.prefix);
            if !store::exists(conn, ctx.pair_id, SODOCUMENT, &format!("{}-{no}", def.name)).await? {
                break no;
            }
        },
    };
    let docid = format!("{}-{docno}", def.name);

    // Amounts.
    let mut entries = Vec::new();
    let mut subtotal = Decimal::ZERO;
    for (i, (line, item, quantity, price, location)) in lines.iter().enumerate() {
        let value = (quantity * price).round_dp(2);
        subtotal += value;
        let item_name = item.as_ref().and_then(|r| lookup(&r.fields, "NAME"));
        let mut e = Map::new();
        let mut put = |k: &str, v: Option<String>| {
            e.insert(k.to_owned(), Value::String(v.unwrap_or_default()));
        };
        put("DOCHDRID", Some(docid.clone()));
        put("LINE_NO", Some(i.to_string()));
        put("ITEMID", Some(line.itemid.trim().to_owned()));
        put("ITEMNAME", item_name.clone());
        put("ITEMDESC", line.itemdesc.clone().or(item_name));
        put("WAREHOUSEID", line.warehouseid.clone());
        put("QUANTITY", Some(quantity.normalize().to_string()));
        put(
            "UNIT",
            Some(line.unit.clone().unwrap_or_else(|| "Each".to_owned())),
        );
        put("UIPRICE", Some(price.normalize().to_string()));
        put("UIVALUE", Some(money(value)));
        put("PRICE", Some(price.normalize().to_string()));
        put("VALUE", Some(money(value)));
        put("TRX_PRICE", Some(price.normalize().to_string()));
        put("TRX_VALUE", Some(money(value)));
        put("DISCOUNTPERCENT", line.discountpercent.clone());
        put("LOCATIONID", Some(location.clone()));
        put("DEPARTMENTID", line.departmentid.clone());
        put("PROJECTID", line.projectid.clone());
        put("CLASSID", line.classid.clone());
        put("MEMO", line.memo.clone());
        entries.push(Value::Object(e));
    }
    let mut subtotals = Vec::new();
    let mut extra = Decimal::ZERO;
    for (s, t) in &subtotal_rows {
        extra += *t;
        subtotals.push(json!({
            "DESCRIPTION": s.description,
            "TOTAL": money(*t),
            "TRX_TOTAL": money(*t),
            "LOCATIONID": s.locationid.clone().unwrap_or_default(),
            "DEPARTMENTID": s.departmentid.clone().unwrap_or_default(),
        }));
    }
    let total = subtotal + extra;
    let state = match non_empty(&order.state) {
        Some(s) if s.eq_ignore_ascii_case("draft") => "Draft",
        Some(s) if s.eq_ignore_ascii_case("closed") => "Closed",
        _ => "Pending",
    };
    let currency = non_empty(&order.currency)
        .map(str::to_owned)
        .or_else(|| {
            customer
                .as_ref()
                .and_then(|c| lookup(&c.fields, "CURRENCY"))
        })
        .unwrap_or_else(|| "USD".to_owned());
    let customer_name = customer.as_ref().and_then(|c| lookup(&c.fields, "NAME"));
    let reference = non_empty(&order.referenceno).map(str::to_owned);

    let mut fields = Map::new();
    let mut put = |k: &str, v: Value| {
        fields.insert(k.to_owned(), v);
    };
    let s = |v: Option<String>| Value::String(v.unwrap_or_default());
    put("DOCID", s(Some(docid.clone())));
    put("DOCNO", s(Some(docno.clone())));
    put("DOCPARID", s(Some(def.name.to_owned())));
    put("STATE", s(Some(state.to_owned())));
    put("CUSTVENDID", s(Some(order.customerid.trim().to_owned())));
    put("CUSTVENDNAME", s(customer_name));
    put("WHENCREATED", s(Some(format_date(doc_date))));
    put("WHENDUE", s(due_date.map(format_date)));
    put("TERM.NAME", s(order.termname.clone()));
    put("PONUMBER", s(reference.clone()));
    put("REFERENCENO", s(reference.clone()));
    put("CUSTOMERPONUMBER", s(order.customerponumber.clone()));
    put("MESSAGE", s(order.message.clone()));
    put("SHIPVIA", s(order.shippingmethod.clone()));
    put("CURRENCY", s(Some(currency.clone())));
    put(
        "BASECURR",
        s(Some(
            order.basecurr.clone().unwrap_or_else(|| "USD".to_owned()),
        )),
    );
    put("EXCHRATETYPE", s(order.exchratetype.clone()));
    put("SUBTOTAL", s(Some(money(subtotal))));
    put("TOTAL", s(Some(money(total))));
    put("TRX_TOTAL", s(Some(money(total))));
    put("PRRECORDKEY", s(None));
    put("CREATEDFROM", s(order.createdfrom.clone()));
    put("EXTERNALID", s(order.externalid.clone()));
    put("PROJECTID", s(order.projectid.clone()));
    put(
        "SHIPTO",
        json!({"CONTACTNAME": order.shipto.as_ref().map(|c| c.contactname.clone()).unwrap_or_default()}),
    );
    put(
        "BILLTO",
        json!({"CONTACTNAME": order.billto.as_ref().map(|c| c.contactname.clone()).unwrap_or_default()}),
    );
    put("SODOCUMENTENTRIES", json!({ "sodocumententry": entries }));
    put("SUBTOTALS", json!({ "sodocumentsubtotals": subtotals }));

    let mut doc = store::insert(
        conn,
        ctx.pair_id,
        NewRecord {
            object: SODOCUMENT,
            object_id: Some(docid.clone()),
            docparid: Some(def.name.to_owned()),
            reference: reference.clone(),
            fields,
        },
        ctx.now,
    )
    .await?;

    // Posting definitions create the AR record (spec §12).
    if def.posts_to_ar {
        let sign = if def.credits_ar {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        let invoice = store::insert(
            conn,
            ctx.pair_id,
            NewRecord {
                object: "ARINVOICE",
                object_id: None,
                docparid: None,
                reference: Some(docid.clone()),
                fields: json!({
                    "RECORDID": docno,
                    "CUSTOMERID": order.customerid.trim(),
                    "STATE": "Posted",
                    "TOTALENTERED": money(total * sign),
                    "TOTALDUE": money(total * sign),
                    "TOTALPAID": "0.00",
                    "WHENPOSTED": format_date(doc_date),
                    "WHENDUE": due_date.map(format_date).unwrap_or_default(),
                    "DOCNUMBER": docid,
                    "CURRENCY": currency,
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            },
            ctx.now,
        )
        .await?;
        doc.fields.insert(
            "PRRECORDKEY".into(),
            Value::String(invoice.recordno.to_string()),
        );
        store::update(conn, ctx.pair_id, SODOCUMENT, &mut doc, reference, ctx.now).await?;
    }

    if let Some((total_name, sign)) = def.inventory
        && state != "Draft"
    {
        for (line, _, quantity, _, _) in &lines {
            if let Some(wh) = non_empty(&line.warehouseid) {
                move_inventory(
                    ctx,
                    conn,
                    line.itemid.trim(),
                    wh,
                    total_name,
                    *quantity * Decimal::from(sign),
                )
                .await?;
            }
        }
    }

    Ok(Done {
        elements: vec![Element::leaf("key", docid)],
        usage: 1,
    })
}

/// Adds `delta` to one inventory total of an item in a warehouse.
pub async fn move_inventory(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    itemid: &str,
    warehouseid: &str,
    total_name: &str,
    delta: Decimal,
) -> Result<(), sqlx::Error> {
    let id = super::seed::warehouse_info_id(itemid, warehouseid);
    let key = ("ITEMWAREHOUSEINFO".to_owned(), id);
    let remembered = ctx.refs.lock().get(&key).cloned();
    let found = match remembered {
        Some(r) => Some(r),
        None => store::by_id(conn, ctx.pair_id, "ITEMWAREHOUSEINFO", &key.1).await?,
    };
    let Some(mut rec) = found else {
        return Ok(()); // non-inventory item or warehouse without a row
    };
    let current = lookup(&rec.fields, total_name)
        .and_then(|v| decimal(&v))
        .unwrap_or(Decimal::ZERO);
    rec.fields.insert(
        total_name.to_owned(),
        Value::String((current + delta).normalize().to_string()),
    );
    store::update(
        conn,
        ctx.pair_id,
        "ITEMWAREHOUSEINFO",
        &mut rec,
        None,
        ctx.now,
    )
    .await?;
    // Two lines of one item in one warehouse: the second moves from the first's total.
    ctx.refs.lock().insert(key, rec);
    Ok(())
}

/// `update_sotransaction key="…"`: header fields and `updatesotransitems`
/// lines by 1-based `line_num` (spec §6.1). Totals are recomputed.
pub async fn update(ctx: &Ctx<'_>, conn: &mut AnyConnection, call: &Element) -> FnResult {
    let Some(key) = call
        .attr_value("key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return Err(Fail::new(
            REQUIRED_FIELD,
            "Missing key",
            "update_sotransaction needs a key attribute (the DOCID, e.g. 'Sales Order-SO0042').",
            "",
        )
        .into());
    };
    let Some(mut doc) = store::by_id(conn, ctx.pair_id, SODOCUMENT, key).await? else {
        return Err(Fail::new(
            INVALID_REFERENCE,
            "Invalid key",
            &format!("Transaction '{key}' does not exist."),
            "Use the DOCID returned by create_sotransaction.",
        )
        .into());
    };
    // Closed and converted documents are final (spec §6.1 states).
    let current = lookup(&doc.fields, "STATE").unwrap_or_default();
    if matches!(current.as_str(), "Closed" | "Converted") {
        return Err(Fail::new(
            INVALID_VALUE,
            "Transaction closed",
            &format!("Transaction '{key}' is {current} and cannot be updated (state)."),
            "Only open transactions (Draft, Pending) can be changed.",
        )
        .into());
    }
    if let Some(term) = call.non_empty("termname") {
        check_ref(ctx, conn, "ARTERM", term, "Term", None).await?;
    }
    let header = [
        ("referenceno", &["PONUMBER", "REFERENCENO"][..]),
        ("customerponumber", &["CUSTOMERPONUMBER"]),
        ("message", &["MESSAGE"]),
        ("shippingmethod", &["SHIPVIA"]),
        ("externalid", &["EXTERNALID"]),
        ("termname", &["TERM.NAME"]),
    ];
    for (el, fields) in header {
        if let Some(v) = call.child_text(el) {
            for f in fields {
                doc.fields
                    .insert((*f).to_owned(), Value::String(v.to_owned()));
            }
        }
    }
    if let Some(state) = call.non_empty("state") {
        let state = match state.to_ascii_lowercase().as_str() {
            "draft" => "Draft",
            "pending" => "Pending",
            "closed" => "Closed",
            _ => {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid state",
                    &format!("state '{state}' must be Draft, Pending or Closed."),
                    "",
                )
                .into());
            }
        };
        doc.fields
            .insert("STATE".into(), Value::String(state.into()));
    }
    let mut entries: Vec<Value> = doc
        .fields
        .get("SODOCUMENTENTRIES")
        .and_then(|e| e.get("sodocumententry"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(updates) = call.find("updatesotransitems") {
        for u in &updates.children {
            // A `<sotransitem>` here adds a line after the existing ones.
            if u.name.eq_ignore_ascii_case("sotransitem") {
                let n = entries.len() + 1;
                entries.push(Value::Object(new_line(ctx, conn, key, n, u).await?));
                continue;
            }
            let line_num: usize = u
                .attr_value("line_num")
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if line_num == 0 || line_num > entries.len() {
                return Err(Fail::new(
                    INVALID_VALUE,
                    "Invalid line number",
                    &format!(
                        "Line {line_num}: line_num must be between 1 and {} (update_sotransaction numbers lines from 1).",
                        entries.len()
                    ),
                    "",
                )
                .into());
            }
            let entry = entries[line_num - 1]
                .as_object_mut()
                .expect("entries are objects");
            for (el, field) in [
                ("memo", "MEMO"),
                ("quantity", "QUANTITY"),
                ("price", "PRICE"),
                ("warehouseid", "WAREHOUSEID"),
                ("locationid", "LOCATIONID"),
                ("departmentid", "DEPARTMENTID"),
                ("unit", "UNIT"),
            ] {
                if let Some(v) = u.child_text(el) {
                    if matches!(field, "QUANTITY" | "PRICE")
                        && decimal(v).is_none_or(|d| d < Decimal::ZERO)
                    {
                        return Err(Fail::new(
                            INVALID_VALUE,
                            &format!("Invalid {el}"),
                            &format!("Line {line_num}: {el} '{v}' is not a valid number."),
                            "",
                        )
                        .into());
                    }
                    entry.insert(field.to_owned(), Value::String(v.to_owned()));
                    if field == "PRICE" {
                        entry.insert("UIPRICE".into(), Value::String(v.to_owned()));
                        entry.insert("TRX_PRICE".into(), Value::String(v.to_owned()));
                    }
                }
            }
            let q = entry
                .get("QUANTITY")
                .and_then(Value::as_str)
                .and_then(decimal)
                .unwrap_or_default();
            let p = entry
                .get("PRICE")
                .and_then(Value::as_str)
                .and_then(decimal)
                .unwrap_or_default();
            let value = money((q * p).round_dp(2));
            for f in ["VALUE", "UIVALUE", "TRX_VALUE"] {
                entry.insert(f.into(), Value::String(value.clone()));
            }
        }
    }
    let lines_total: Decimal = entries
        .iter()
        .filter_map(|e| e.get("VALUE").and_then(Value::as_str).and_then(decimal))
        .sum();
    let extra: Decimal = doc
        .fields
        .get("SUBTOTALS")
        .and_then(|s| s.get("sodocumentsubtotals"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|s| s.get("TOTAL").and_then(Value::as_str).and_then(decimal))
                .sum()
        })
        .unwrap_or_default();
    doc.fields
        .insert("SUBTOTAL".into(), Value::String(money(lines_total)));
    doc.fields
        .insert("TOTAL".into(), Value::String(money(lines_total + extra)));
    doc.fields.insert(
        "TRX_TOTAL".into(),
        Value::String(money(lines_total + extra)),
    );
    doc.fields.insert(
        "SODOCUMENTENTRIES".into(),
        json!({ "sodocumententry": entries }),
    );
    let reference = lookup(&doc.fields, "PONUMBER");
    store::update(conn, ctx.pair_id, SODOCUMENT, &mut doc, reference, ctx.now).await?;
    Ok(Done {
        elements: vec![Element::leaf("key", key)],
        usage: 1,
    })
}

/// A line added by `update_sotransaction`, checked like a created one.
async fn new_line(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    docid: &str,
    n: usize,
    el: &Element,
) -> Result<Map<String, Value>, FnError> {
    let line: SoTransItem = el.deserialize().map_err(|e| {
        Fail::new(
            errno::XML_ERROR,
            "XML error",
            &format!("Line {n}: sotransitem could not be read: {e}"),
            "Send itemid and quantity in DTD order.",
        )
    })?;
    let item = check_ref(ctx, conn, "ITEM", line.itemid.trim(), "Item", Some(n))
        .await?
        .expect("check_ref returns the record");
    let quantity = decimal(&line.quantity)
        .filter(|q| *q > Decimal::ZERO)
        .ok_or_else(|| {
            Fail::new(
                INVALID_VALUE,
                "Invalid quantity",
                &format!(
                    "Line {n}: quantity '{}' must be a number greater than zero.",
                    line.quantity
                ),
                "",
            )
        })?;
    let price = match &line.price {
        Some(p) => decimal(p).filter(|p| *p >= Decimal::ZERO).ok_or_else(|| {
            Fail::new(
                INVALID_VALUE,
                "Invalid price",
                &format!("Line {n}: price '{p}' must be a number of zero or more."),
                "",
            )
        })?,
        None => lookup(&item.fields, "BASEPRICE")
            .and_then(|p| decimal(&p))
            .unwrap_or_default(),
    };
    let location = match (non_empty(&line.locationid), ctx.location_id) {
        (Some(l), _) => {
            check_ref(ctx, conn, "LOCATION", l, "Location", Some(n)).await?;
            l.to_owned()
        }
        (None, Some(entity)) => entity.to_owned(),
        (None, None) => {
            return Err(Fail::new(
                REQUIRED_FIELD,
                "Location required",
                &format!("Line {n}: a location (entity) is required on every line because the company is multi-entity."),
                "Send locationid on each line, or sign in to an entity.",
            )
            .into());
        }
    };
    if let Some(w) = non_empty(&line.warehouseid) {
        check_ref(ctx, conn, "WAREHOUSE", w, "Warehouse", Some(n)).await?;
    }
    let value = money((quantity * price).round_dp(2));
    let price = price.normalize().to_string();
    let name = lookup(&item.fields, "NAME").unwrap_or_default();
    let s = |v: &str| Value::String(v.to_owned());
    let o = |v: &Option<String>| Value::String(v.clone().unwrap_or_default());
    Ok(json!({
        "DOCHDRID": docid, "LINE_NO": (n - 1).to_string(), "ITEMID": line.itemid.trim(),
        "ITEMNAME": name, "ITEMDESC": line.itemdesc.clone().unwrap_or(name.clone()),
        "WAREHOUSEID": o(&line.warehouseid), "QUANTITY": quantity.normalize().to_string(),
        "UNIT": line.unit.clone().unwrap_or_else(|| "Each".to_owned()),
        "UIPRICE": s(&price), "UIVALUE": s(&value), "PRICE": s(&price), "VALUE": s(&value),
        "TRX_PRICE": s(&price), "TRX_VALUE": s(&value), "DISCOUNTPERCENT": o(&line.discountpercent),
        "LOCATIONID": location, "DEPARTMENTID": o(&line.departmentid),
        "PROJECTID": o(&line.projectid), "CLASSID": o(&line.classid), "MEMO": o(&line.memo),
    })
    .as_object()
    .cloned()
    .unwrap_or_default())
}

/// What the simulator holds, newest last: for the sandbox API and the UI.
pub async fn list_sales_orders(db: &Db, pair_id: &str) -> Result<Vec<Value>, sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    let docs = store::list(&mut conn, pair_id, SODOCUMENT, &Pushdown::default()).await?;
    Ok(docs.into_iter().map(|d| summary(&d)).collect())
}

fn summary(d: &Record) -> Value {
    let f = |k: &str| Value::String(lookup(&d.fields, k).unwrap_or_default());
    let lines: Vec<Value> = d
        .fields
        .get("SODOCUMENTENTRIES")
        .and_then(|e| e.get("sodocumententry"))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let g = |k: &str| e.get(k).cloned().unwrap_or(Value::String(String::new()));
                    json!({
                        "LINE_NO": g("LINE_NO"), "ITEMID": g("ITEMID"), "ITEMNAME": g("ITEMNAME"),
                        "QUANTITY": g("QUANTITY"), "UNIT": g("UNIT"), "PRICE": g("PRICE"),
                        "VALUE": g("VALUE"), "WAREHOUSEID": g("WAREHOUSEID"),
                        "LOCATIONID": g("LOCATIONID"), "DEPARTMENTID": g("DEPARTMENTID"), "MEMO": g("MEMO"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let subtotals = d
        .fields
        .get("SUBTOTALS")
        .and_then(|s| s.get("sodocumentsubtotals"))
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    json!({
        "key": d.object_id,
        "RECORDNO": d.recordno.to_string(),
        "DOCID": f("DOCID"),
        "DOCNO": f("DOCNO"),
        "DOCPARID": f("DOCPARID"),
        "STATE": f("STATE"),
        "REFERENCENO": f("REFERENCENO"),
        "PONUMBER": f("PONUMBER"),
        "CUSTOMERPONUMBER": f("CUSTOMERPONUMBER"),
        "CUSTOMERID": f("CUSTVENDID"),
        "CUSTVENDNAME": f("CUSTVENDNAME"),
        "CURRENCY": f("CURRENCY"),
        "SUBTOTAL": f("SUBTOTAL"),
        "TOTAL": f("TOTAL"),
        "PRRECORDKEY": f("PRRECORDKEY"),
        "WHENCREATED": f("WHENCREATED"),
        "WHENMODIFIED": f("WHENMODIFIED"),
        "lines": lines,
        "subtotals": subtotals,
    })
}
