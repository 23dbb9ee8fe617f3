//! The mapping engine: turns a source record (a Clarity order, …) into the
//! payload an ERP connector sends, following a tenant's template.
//!
//! A template is a versioned JSON document for one flow and one ERP: settings,
//! lookup tables and a list of rules, each setting one target path (see
//! [`template`] for the rule language). [`CompiledTemplate::compile`] checks and
//! compiles it once — when the tenant saves it — and
//! [`CompiledTemplate::apply`] maps records with it.
//!
//! Plain copies, constants, lookups, text formats, line arrays, dates and
//! money are handled natively, without the expression engine, so the
//! pre-built templates map an order in a few microseconds. `expr` rules run a
//! jq program with jaq ([`engine`]), bounded in steps, time, depth and output.
//! Money is never added up in floating point ([`money`]).
//!
//! The pre-built templates live in `jobs/templates/` and are embedded here:
//! [`builtin_template`] and [`builtin_flows`].

pub mod address;
pub mod currency;
mod engine;
mod money;
mod paths;
pub mod schema;
pub mod similarity;
pub mod sku;
pub mod suggest;
pub mod tax;
pub mod template;
pub mod validate;

pub use template::CompiledTemplate;

use serde_json::Value;

/// A template that cannot be compiled: which rule (0-based index in `rules`),
/// which target, and why. Errors about the document as a whole (not valid
/// JSON shape, a lookup table that is not an object) have rule 0 and an empty
/// target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule} (`{target}`): {message}")]
pub struct TemplateError {
    pub rule: usize,
    pub target: String,
    pub message: String,
}

/// A record that the template cannot map: which target (with the line index
/// for line rules, e.g. `sotransitems[1].price`), why, and the offending value
/// when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{target}`: {message}")]
pub struct MappingError {
    pub target: String,
    pub message: String,
    pub value: Option<Value>,
}

const ORDERS_INTACCT: &str = include_str!("../../templates/orders.intacct.json");
const ORDERS_SAGEPRO: &str = include_str!("../../templates/orders.sagepro.json");

/// The flows that have pre-built templates.
pub fn builtin_flows() -> &'static [&'static str] {
    &["orders"]
}

/// The pre-built template document (JSON text) for a flow and an ERP
/// (`intacct` or `sagepro`), if there is one.
pub fn builtin_template(flow: &str, erp: &str) -> Option<&'static str> {
    match (flow, erp) {
        ("orders", "intacct") => Some(ORDERS_INTACCT),
        ("orders", "sagepro") => Some(ORDERS_SAGEPRO),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_parses_compiles_and_names_its_flow_and_erp() {
        for flow in builtin_flows() {
            for erp in ["intacct", "sagepro"] {
                let text = builtin_template(flow, erp).expect("template exists");
                let doc: Value = serde_json::from_str(text).expect("valid JSON");
                let t = CompiledTemplate::compile(&doc).expect("compiles");
                assert_eq!(t.flow(), Some(*flow));
                assert_eq!(t.erp(), Some(erp));
            }
        }
        assert!(builtin_template("orders", "sap").is_none());
    }
}
