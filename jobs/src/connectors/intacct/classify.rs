//! Turning Intacct's answers into [`ConnectorError`]s: which failures are the
//! sender's or user's credentials, which are limits, and which name a field of
//! the record we sent.
//!
//! Intacct's messages are free text and its error numbers are mostly
//! undocumented (spec §7), so field names are derived from what a message
//! *mentions*: a value we sent (an item id on line 2), or a keyword ("Line 3",
//! "term", "customer"). Nothing here depends on the simulator's own codes.

use crate::connectors::{ConnectorError, System};

use super::element::Element;
use super::functions::ApiFunction;
use super::wire::{ErrorMessage, SoTransaction, errno};

const SYSTEM: System = System::Intacct;

/// A failed control block (nothing ran): sender credentials, limits, or a request
/// the gateway could not read.
pub fn control_failure(em: &ErrorMessage, sender_id: &str) -> ConnectorError {
    let text = em.joined();
    if em.has_errno(errno::RATE_LIMITED) {
        return limit_error(&text, None);
    }
    if em.has_errno(errno::NOT_AUTHORIZED) || em.has_errno(errno::SIGN_IN_INCORRECT) {
        return ConnectorError::Auth {
            system: SYSTEM,
            message: format!(
                "the Web Services sender '{sender_id}' was refused ({text}). Check the sender ID and \
                 password, and that the sender is authorized for this company in Company > \
                 Setup > Company > Security > Web Services authorizations"
            ),
        };
    }
    if em.has_errno(errno::COMPANY_EXPIRED) {
        return ConnectorError::Auth {
            system: SYSTEM,
            message: format!("the company can no longer be used ({text})"),
        };
    }
    // XL03000003 and the like: the gateway could not read what we sent. Sending
    // it again cannot help.
    ConnectorError::Refused {
        system: SYSTEM,
        message: if text.is_empty() {
            "the request was refused without an error message".to_owned()
        } else {
            text
        },
    }
}

/// HTTP 429 / GW-0010. Intacct uses one code for both its rate limit and its
/// per-company concurrency limit; the text tells them apart when it can.
pub fn limit_error(text: &str, retry_after: Option<std::time::Duration>) -> ConnectorError {
    if text.to_ascii_lowercase().contains("concurren") {
        ConnectorError::ConcurrencyLimit {
            system: SYSTEM,
            retry_after,
        }
    } else {
        ConnectorError::RateLimited {
            system: SYSTEM,
            retry_after,
        }
    }
}

/// Did Intacct refuse this function because its control id already ran
/// (`uniqueid=true`)? Any failure whose text mentions the control id counts
/// (spec §7: the real error number is undocumented).
pub fn already_processed(em: &ErrorMessage, control_id: &str) -> bool {
    em.has_errno(errno::DUPLICATE_CONTROL_ID)
        || (!control_id.is_empty() && em.joined().contains(control_id))
}

/// A function-level failure (spec §7), named after the record the function
/// was about: a lock is transient; a missing record the function addressed by
/// key is `NotFound`; anything else is a permanent `Validation` naming the
/// field when the message lets us tell which (description2 and correction are
/// kept in the message).
pub fn function_failure(em: &ErrorMessage, f: &ApiFunction) -> ConnectorError {
    let text = em.joined();
    let lower = text.to_ascii_lowercase();
    let message = if text.is_empty() {
        format!("{}: Intacct refused it without an error message", f.record)
    } else {
        format!("{}: {text}", f.record)
    };
    if lower.contains("locked") {
        return ConnectorError::RecordLocked {
            system: SYSTEM,
            message,
            retry_after: None,
        };
    }
    let addressed_by_key = matches!(
        f.name(),
        "update" | "delete" | "update_sotransaction" | "read" | "readByName"
    );
    let missing = lower.contains("does not exist") || lower.contains("not found");
    if addressed_by_key && missing {
        return ConnectorError::NotFound {
            system: SYSTEM,
            message,
        };
    }
    if let Some(order) = &f.order {
        let field = sales_order_field(em, order);
        return ConnectorError::Validation {
            system: SYSTEM,
            field,
            message,
        };
    }
    let field = field_named(em, &f.call).or_else(|| {
        (f.name() == "create_aradjustment")
            .then(|| ar_adjustment_line_field(&lower))
            .flatten()
    });
    ConnectorError::Validation {
        system: SYSTEM,
        field,
        message,
    }
}

/// An AR adjustment line's field that was not sent but is needed ("Line 2: a
/// location (entity) is required"), in the paths of what was sent.
fn ar_adjustment_line_field(lower: &str) -> Option<String> {
    let n = line_number(lower).filter(|n| *n >= 1)?;
    let name = [
        ("location", "locationid"),
        ("entity", "locationid"),
        ("gl account", "glaccountno"),
        ("glaccountno", "glaccountno"),
        ("amount", "amount"),
    ]
    .into_iter()
    .find(|(k, _)| lower.contains(k))?
    .1;
    Some(format!("aradjustmentitems.lineitem[{}].{name}", n - 1))
}

/// The field of the sent call an error names, as a path into what was sent
/// (`PAYMENTMETHOD`, `ENTRIES.GLENTRY[1].ACCOUNTNO`,
/// `updatesotransitems[0].quantity`): first a field mentioned by name (the line
/// number choosing among repeated ones), then a value we sent quoted in the
/// message, then any upper-case field-like word of the message.
pub fn field_named(em: &ErrorMessage, call: &Element) -> Option<String> {
    // The error number is not prose: leave it out.
    let text: String = em
        .error
        .iter()
        .flat_map(|e| [&e.description, &e.description2, &e.correction])
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
    let lower = text.to_ascii_lowercase();
    // Generic calls carry the object as their only child; legacy ones the fields.
    let (root, prefix) = match call.name.as_str() {
        "create" | "update" => match call.children.first() {
            Some(obj) => (obj, String::new()),
            None => (call, String::new()),
        },
        _ => (call, String::new()),
    };
    let mut leaves = Vec::new();
    collect_leaves(root, &prefix, &mut leaves);
    let line = line_number(&lower);

    let by_name: Vec<&(String, String, String)> = leaves
        .iter()
        .filter(|(name, _, _)| {
            mentions(&text, name) || mentions(&lower, &name.to_ascii_lowercase())
        })
        .collect();
    if let Some(hit) = pick(&by_name, line) {
        return Some(hit);
    }
    let by_value: Vec<&(String, String, String)> = leaves
        .iter()
        .filter(|(_, _, value)| !value.is_empty() && text.contains(&format!("'{value}'")))
        .collect();
    if let Some(hit) = pick(&by_value, line) {
        return Some(hit);
    }
    // A field we did not send (a required one), or one a query named.
    let object = root.name.to_ascii_uppercase();
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| {
            w.len() >= 3
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '.')
                && *w != object
                && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        })
        .map(str::to_owned)
}

/// Among candidate leaves, the one on the line the message names, else the first.
fn pick(hits: &[&(String, String, String)], line: Option<usize>) -> Option<String> {
    if let Some(n) = line {
        let tag = format!("[{}]", n - 1);
        if let Some(h) = hits.iter().find(|(_, path, _)| path.contains(&tag)) {
            return Some(h.1.clone());
        }
    }
    hits.first().map(|h| h.1.clone())
}

/// `(name, path, value)` of every text element under `el`; repeated siblings
/// are indexed (`GLENTRY[1]`), and `line_num` attributes count from 1.
fn collect_leaves(el: &Element, prefix: &str, out: &mut Vec<(String, String, String)>) {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in &el.children {
        let repeated = el.children.iter().filter(|x| x.name == c.name).count() > 1
            || c.attr_value("line_num").is_some()
            || matches!(
                c.name.as_str(),
                "GLENTRY" | "ARPYMTDETAIL" | "sotransitem" | "updatesotransitem" | "lineitem"
            );
        let segment = if repeated {
            let i = counts.entry(c.name.as_str()).or_default();
            let index = c
                .attr_value("line_num")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .map(|n| n.saturating_sub(1))
                .unwrap_or(*i);
            *i += 1;
            format!("{}[{index}]", c.name)
        } else {
            c.name.clone()
        };
        // Legacy wrappers (`updatesotransitems`) name the list, not the line.
        let path = if prefix.is_empty() {
            segment
        } else {
            format!("{prefix}.{segment}")
        };
        let path = path.replace("updatesotransitems.updatesotransitem", "updatesotransitems");
        if c.children.is_empty() {
            out.push((c.name.clone(), path, c.text.trim().to_owned()));
        } else {
            collect_leaves(c, &path, out);
        }
    }
}

/// A function-level failure of `create_sotransaction`.
pub fn sales_order_failure(em: &ErrorMessage, order: &SoTransaction) -> ConnectorError {
    let message = em.joined();
    let lower = message.to_ascii_lowercase();
    if lower.contains("locked") {
        return ConnectorError::RecordLocked {
            system: SYSTEM,
            message,
            retry_after: None,
        };
    }
    ConnectorError::Validation {
        system: SYSTEM,
        field: sales_order_field(em, order),
        message: if message.is_empty() {
            "Intacct refused the sales order without an error message".to_owned()
        } else {
            message
        },
    }
}

/// The field of a sales order that an error names, in the JSON shape's paths
/// (`customerid`, `sotransitems[1].itemid`).
pub fn sales_order_field(em: &ErrorMessage, order: &SoTransaction) -> Option<String> {
    let text = em.joined();
    let lower = text.to_ascii_lowercase();

    // 1. A line value we sent, mentioned next to its kind.
    type LineGetter = fn(&super::wire::SoTransItem) -> Option<&str>;
    let line_fields: [(&str, &[&str], LineGetter); 6] = [
        ("itemid", &["item"], |l| Some(l.itemid.as_str())),
        ("warehouseid", &["warehouse"], |l| l.warehouseid.as_deref()),
        ("locationid", &["location", "entity"], |l| {
            l.locationid.as_deref()
        }),
        ("departmentid", &["department"], |l| {
            l.departmentid.as_deref()
        }),
        ("projectid", &["project"], |l| l.projectid.as_deref()),
        ("classid", &["class"], |l| l.classid.as_deref()),
    ];
    let line_no = line_number(&lower);
    for (name, keywords, get) in line_fields {
        if !keywords.iter().any(|k| lower.contains(k)) {
            continue;
        }
        let hits: Vec<usize> = order
            .sotransitems
            .iter()
            .enumerate()
            .filter(|(_, l)| get(l).is_some_and(|v| !v.is_empty() && mentions(&text, v)))
            .map(|(i, _)| i)
            .collect();
        // A value on several lines: the line number, when given, picks one.
        let index = match (hits.as_slice(), line_no) {
            ([], _) => continue,
            ([only], _) => *only,
            (many, Some(n)) if many.contains(&(n - 1)) => n - 1,
            ([first, ..], _) => *first,
        };
        return Some(format!("sotransitems[{index}].{name}"));
    }

    // 2. "Line N" plus the kind of problem.
    if let Some(n) = line_no.filter(|n| *n >= 1 && *n <= order.sotransitems.len()) {
        let keyword_fields = [
            ("quantity", "quantity"),
            ("price", "price"),
            ("location", "locationid"),
            ("entity", "locationid"),
            ("warehouse", "warehouseid"),
            ("department", "departmentid"),
            ("item", "itemid"),
            ("unit", "unit"),
        ];
        if let Some((_, f)) = keyword_fields.iter().find(|(k, _)| lower.contains(k)) {
            return Some(format!("sotransitems[{}].{f}", n - 1));
        }
    }

    // 3. Header fields.
    if lower.contains("customer")
        && (mentions(&text, &order.customerid) || !lower.contains("contact"))
    {
        return Some("customerid".to_owned());
    }
    let header = [
        ("transaction definition", "transactiontype"),
        ("transactiontype", "transactiontype"),
        ("transaction type", "transactiontype"),
        ("document number", "documentno"),
        ("documentno", "documentno"),
        ("termname", "termname"),
        ("term", "termname"),
        ("datedue", "datedue"),
        ("due date", "datedue"),
        ("datecreated", "datecreated"),
        ("date", "datecreated"),
        ("currency", "currency"),
        ("exchange rate", "exchratetype"),
        ("shipping method", "shippingmethod"),
        ("subtotal", "subtotals"),
    ];
    if let Some((_, f)) = header.iter().find(|(k, _)| lower.contains(k)) {
        return Some((*f).to_owned());
    }
    if lower.contains("contact") {
        let ship = order.shipto.as_ref().map(|c| c.contactname.as_str());
        let bill = order.billto.as_ref().map(|c| c.contactname.as_str());
        if ship.is_some_and(|v| mentions(&text, v)) {
            return Some("shipto.contactname".to_owned());
        }
        if bill.is_some_and(|v| mentions(&text, v)) {
            return Some("billto.contactname".to_owned());
        }
    }
    None
}

/// Whether `text` mentions `value` as a whole token (so `SKU-10` does not match
/// inside `SKU-1001`).
fn mentions(text: &str, value: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_' || c == '.';
    text.match_indices(value).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + value.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(|c| is_word(c) && c != '.')
    })
}

/// The first "line N" in a message (1-based, as Intacct numbers lines in messages).
fn line_number(lower: &str) -> Option<usize> {
    let at = lower.find("line ")?;
    let digits: String = lower[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok().filter(|n: &usize| *n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::intacct::wire::ErrorDetail;

    fn order() -> SoTransaction {
        serde_json::from_value(serde_json::json!({
            "transactiontype":"Sales Order","datecreated":{"year":"2024","month":"06","day":"01"},
            "customerid":"CUS-5001","termname":"Net 30",
            "sotransitems":[
                {"itemid":"SKU-1001","quantity":"2","warehouseid":"WH1","locationid":"US-EAST"},
                {"itemid":"SKU-10","quantity":"1","warehouseid":"WH9","locationid":"US-EAST"}
            ]
        }))
        .unwrap()
    }

    fn em(description: &str, description2: &str) -> ErrorMessage {
        ErrorMessage {
            error: vec![ErrorDetail {
                errorno: Some("X".into()),
                description: Some(description.into()),
                description2: Some(description2.into()),
                correction: None,
            }],
        }
    }

    #[test]
    fn names_the_line_of_an_unknown_item_by_its_value() {
        let e = em(
            "Invalid item",
            "Item 'SKU-10' does not exist or is inactive.",
        );
        assert_eq!(
            sales_order_field(&e, &order()).as_deref(),
            Some("sotransitems[1].itemid")
        );
    }

    #[test]
    fn names_the_line_by_number_when_no_value_is_quoted() {
        let e = em(
            "Required field missing",
            "Line 2: a location is required on every line.",
        );
        assert_eq!(
            sales_order_field(&e, &order()).as_deref(),
            Some("sotransitems[1].locationid")
        );
        let e = em(
            "Invalid quantity",
            "Line 1: quantity must be greater than zero.",
        );
        assert_eq!(
            sales_order_field(&e, &order()).as_deref(),
            Some("sotransitems[0].quantity")
        );
    }

    #[test]
    fn names_header_fields() {
        for (d2, field) in [
            (
                "Customer 'CUS-5001' does not exist or is inactive.",
                "customerid",
            ),
            (
                "Transaction definition 'Sales Ordr' does not exist.",
                "transactiontype",
            ),
            (
                "Either a payment term or a due date is required.",
                "termname",
            ),
            ("Document number 'CO-1' is already used.", "documentno"),
        ] {
            assert_eq!(
                sales_order_field(&em("x", d2), &order()).as_deref(),
                Some(field),
                "{d2}"
            );
        }
        assert_eq!(
            sales_order_field(&em("Something odd", "happened"), &order()),
            None
        );
    }

    #[test]
    fn validation_message_joins_all_parts() {
        let e = em("Invalid item", "Item 'SKU-10' does not exist.");
        match sales_order_failure(&e, &order()) {
            ConnectorError::Validation { field, message, .. } => {
                assert_eq!(field.as_deref(), Some("sotransitems[1].itemid"));
                assert_eq!(message, "X Invalid item Item 'SKU-10' does not exist.");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failure_mentioning_the_control_id_means_already_processed() {
        let e = em(
            "",
            "A successful request with control ID 'clarity-order-1' has already been processed.",
        );
        assert!(already_processed(&e, "clarity-order-1"));
        assert!(!already_processed(
            &em("Invalid item", "nope"),
            "clarity-order-1"
        ));
    }

    #[test]
    fn sender_refusal_is_an_auth_error_with_a_hint() {
        let e = ErrorMessage {
            error: vec![ErrorDetail {
                errorno: Some(errno::NOT_AUTHORIZED.into()),
                description2: Some("Incorrect Intacct XML Partner ID or password.".into()),
                ..Default::default()
            }],
        };
        match control_failure(&e, "acme-sender") {
            ConnectorError::Auth { message, .. } => {
                assert!(message.contains("acme-sender"), "{message}");
                assert!(message.contains("Web Services authorizations"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limit_errors_tell_concurrency_from_rate() {
        assert!(matches!(
            limit_error("GW-0010 Too many concurrent requests", None),
            ConnectorError::ConcurrencyLimit { .. }
        ));
        assert!(matches!(
            limit_error("GW-0010 Rate limit exceeded", None),
            ConnectorError::RateLimited { .. }
        ));
    }
}
