//! Scripted faults that need the request read before they can be answered in
//! the place Intacct answers them (spec §4, three status levels):
//!
//! - `session_expired`: every session of the company ends before the request is
//!   authenticated, so a `<sessionid>` request fails at the authentication level
//!   with the invalid-session error and the client signs in again. (A login-block
//!   request goes through: there is no session to lose.)
//! - `unauthorized`: the sender is refused at the control level (XL03000006), or,
//!   for a login block, the sign-in fails at the authentication level.
//! - `validation`, `not_found`, `record_locked`: the first function fails with a
//!   business error; the others run as usual (or are aborted under
//!   `transaction="true"`). Those two are handled in `mod.rs`; this file writes
//!   the function-level errors.
//!
//! `getAPISession` is never failed here: the faults are about the calls made
//! with a session.

use super::Element;

use super::Fail;
use super::sales::{INVALID_REFERENCE, INVALID_VALUE, RECORD_LOCKED};
use crate::faults::FaultKind;

/// The failure the first function of a request gets for a scripted fault, if
/// the fault is answered at the function level.
pub fn function_failure(kind: FaultKind, call: &Element) -> Option<Fail> {
    if call.name == "getAPISession" {
        return None;
    }
    match kind {
        FaultKind::Validation => Some(validation(call)),
        FaultKind::NotFound => Some(not_found(call)),
        FaultKind::RecordLocked => Some(Fail::new(
            RECORD_LOCKED,
            "Record locked",
            &format!(
                "{}: the record is locked by another transaction in progress.",
                target(call).0
            ),
            "Try the request again in a few seconds.",
        )),
        _ => None,
    }
}

/// The object a function works on and the key it names, as far as it says.
fn target(call: &Element) -> (String, String) {
    let text = |name: &str| call.non_empty(name).unwrap_or("").to_owned();
    match call.name.as_str() {
        "create_sotransaction" => (text("transactiontype"), text("documentno")),
        "update_sotransaction" => (
            "SODOCUMENT".to_owned(),
            call.attr_value("key").unwrap_or("").to_owned(),
        ),
        "create" | "update" => {
            let Some(obj) = call.children.first() else {
                return (String::new(), String::new());
            };
            let key = obj
                .non_empty("RECORDNO")
                .or_else(|| {
                    obj.children
                        .iter()
                        .find(|c| {
                            c.name.to_ascii_uppercase().ends_with("ID") && c.children.is_empty()
                        })
                        .map(|c| c.text.as_str())
                })
                .unwrap_or("")
                .to_owned();
            (obj.name.to_ascii_uppercase(), key)
        }
        _ => (text("object").to_ascii_uppercase(), text("keys")),
    }
}

/// "Line 1: quantity …" for order lines; otherwise the first field the call
/// carries with a value, named as the caller spelled it.
fn validation(call: &Element) -> Fail {
    if call.name == "create_sotransaction" {
        let quantity = call
            .find("sotransitems")
            .and_then(|i| i.find("sotransitem"))
            .and_then(|l| l.child_text("quantity"))
            .unwrap_or("");
        return Fail::new(
            INVALID_VALUE,
            "Invalid quantity",
            &format!("Line 1: quantity '{quantity}' is not valid for this item and unit."),
            "Send a quantity the item's unit of measure allows.",
        );
    }
    let (object, _) = target(call);
    let start = match call.name.as_str() {
        "create" | "update" => call.children.first().unwrap_or(call),
        _ => call,
    };
    let (field, value) = first_leaf(start).unwrap_or(("object", ""));
    Fail::new(
        INVALID_VALUE,
        "Invalid field value",
        &format!("{object}: field {field} value '{value}' is not valid."),
        &format!("Correct {field} and send the request again."),
    )
}

fn first_leaf(el: &Element) -> Option<(&str, &str)> {
    el.children.iter().find_map(|c| {
        if c.children.is_empty() {
            (!c.text.trim().is_empty()).then_some((c.name.as_str(), c.text.trim()))
        } else {
            first_leaf(c)
        }
    })
}

fn not_found(call: &Element) -> Fail {
    if call.name == "create_sotransaction" {
        let customer = call.child_text("customerid").unwrap_or("").trim();
        return Fail::new(
            INVALID_REFERENCE,
            "Invalid Customer",
            &format!("Customer '{customer}' does not exist or is inactive."),
            "Use the ID of an existing, active customer.",
        );
    }
    let (object, key) = target(call);
    Fail::new(
        INVALID_REFERENCE,
        "Record not found",
        &format!("{object} record '{key}' does not exist."),
        "Check the key, or read the record again: it may have been deleted.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_first_field_sent() {
        let call = Element::parse(
            "<create><CUSTOMER><CUSTOMERID>C-1</CUSTOMERID><NAME>X</NAME></CUSTOMER></create>",
        )
        .unwrap();
        let f = function_failure(FaultKind::Validation, &call).unwrap();
        assert_eq!(
            f.0[0].description2.as_deref(),
            Some("CUSTOMER: field CUSTOMERID value 'C-1' is not valid.")
        );
        let f = function_failure(FaultKind::NotFound, &call).unwrap();
        assert_eq!(
            f.0[0].description2.as_deref(),
            Some("CUSTOMER record 'C-1' does not exist.")
        );
        let session = Element::new("getAPISession");
        assert!(function_failure(FaultKind::Validation, &session).is_none());
        assert!(function_failure(FaultKind::SessionExpired, &call).is_none());
    }
}
