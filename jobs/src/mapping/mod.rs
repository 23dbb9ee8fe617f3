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
//! [`builtin_flows`], [`builtin_variants`], [`builtin_template`] (the default
//! variant, installed into a new pair), [`flow_target`] and [`flow_record_id`].
//! A file is `<flow>[-<variant>].<erp>.json`. Besides `flow`, `erp`,
//! `version` and `description`, each document says:
//!
//! - `record`: the target record, whose schema [`schema::schema_for`] finds
//!   with the document's `erp`. Records written into Clarity by the flows
//!   coming back from the ERP are named `clarity.<record>`
//!   (`clarity.product`, `clarity.inventory`, `clarity.shipment`,
//!   `clarity.customer`, `clarity.order_update`).
//! - `direction`: `to_erp` (absent means the same) or `to_clarity`. A flow
//!   that runs both ways (customers) has one variant per direction: the
//!   default is Clarity → ERP, `to_clarity` the other; the pair's setting
//!   `conflict_rule` tells the worker which side wins.
//! - `variant`: for the non-default ones (`invoice`, `to_clarity`,
//!   `gl_batch`).
//!
//! Outputs into an ERP may carry `_route` (`_route.entity` for Intacct,
//! `_route.company` for Sage Pro): a lookup with a default that picks the
//! Intacct entity or Sage Pro company by store, currency or ship-to country.
//! The worker reads it to choose the session or company header and removes
//! it before sending; the schemas declare it so validation accepts it.

pub mod address;
pub mod anomaly;
mod bounds;
pub mod conversions;
pub mod currency;
pub mod currency_code;
mod engine;
pub use engine::{EVAL_STACK_BYTES, assume_roomy_stack, on_roomy_stack};
mod layout;
mod money;
mod paths;
pub mod pipeline;
pub mod rules;
pub mod schema;
pub mod similarity;
pub mod sku;
pub mod suggest;
pub mod tax;
pub mod validate;

pub use rules::CompiledTemplate;

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
    /// The rule's key at fault (`expr`), when it is known.
    pub key: Option<&'static str>,
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

/// One pre-built template: a variant of a flow for one ERP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTemplate {
    /// `default` for the one installed into a new pair; others (`invoice`,
    /// `to_clarity`, `gl_batch`) are offered by the editor.
    pub variant: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The template document, JSON text.
    pub document: &'static str,
}

/// One flow for one ERP: its variants (the first is the default) and the
/// system and record the default variant's output is.
struct FlowEntry {
    flow: &'static str,
    erp: &'static str,
    /// `intacct`, `sagepro` or `clarity` (flows coming back from the ERP).
    target_system: &'static str,
    record: &'static str,
    variants: &'static [BuiltinTemplate],
}

macro_rules! builtin {
    ($variant:literal, $title:literal, $description:literal, $file:literal) => {
        BuiltinTemplate {
            variant: $variant,
            title: $title,
            description: $description,
            document: include_str!(concat!("../../templates/", $file)),
        }
    };
}

const REGISTRY: &[FlowEntry] = &[
    FlowEntry {
        flow: "orders",
        erp: "intacct",
        target_system: "intacct",
        record: "sotransaction",
        variants: &[
            builtin!(
                "default",
                "Sales order",
                "Clarity order → Intacct Sales Order (create_sotransaction)",
                "orders.intacct.json"
            ),
            builtin!(
                "invoice",
                "Sales invoice",
                "Clarity order → Intacct Sales Invoice (create_sotransaction), coupon as a Discount subtotal or allocated per line",
                "orders-invoice.intacct.json"
            ),
        ],
    },
    FlowEntry {
        flow: "orders",
        erp: "sagepro",
        target_system: "sagepro",
        record: "SalesOrder",
        variants: &[
            builtin!(
                "default",
                "Sales order",
                "Clarity order → Sage Pro sales order (POST /orders)",
                "orders.sagepro.json"
            ),
            builtin!(
                "invoice",
                "Invoice",
                "Clarity order → Sage Pro invoice (POST /invoices), coupon as a discount line or allocated over the lines",
                "orders-invoice.sagepro.json"
            ),
        ],
    },
    FlowEntry {
        flow: "customers",
        erp: "intacct",
        target_system: "intacct",
        record: "customer",
        variants: &[
            builtin!(
                "default",
                "Customer to Intacct",
                "Clarity customer → Intacct CUSTOMER (addresses standardized)",
                "customers.intacct.json"
            ),
            builtin!(
                "to_clarity",
                "Customer to Clarity",
                "Intacct CUSTOMER → Clarity customer",
                "customers-to_clarity.intacct.json"
            ),
        ],
    },
    FlowEntry {
        flow: "customers",
        erp: "sagepro",
        target_system: "sagepro",
        record: "Customer",
        variants: &[
            builtin!(
                "default",
                "Customer to Sage Pro",
                "Clarity customer → Sage Pro customer (addresses standardized to 30-character lines)",
                "customers.sagepro.json"
            ),
            builtin!(
                "to_clarity",
                "Customer to Clarity",
                "Sage Pro customer → Clarity customer",
                "customers-to_clarity.sagepro.json"
            ),
        ],
    },
    FlowEntry {
        flow: "products",
        erp: "intacct",
        target_system: "clarity",
        record: "clarity.product",
        variants: &[builtin!(
            "default",
            "Items and prices",
            "Intacct ITEM and base price → Clarity product",
            "products.intacct.json"
        )],
    },
    FlowEntry {
        flow: "products",
        erp: "sagepro",
        target_system: "clarity",
        record: "clarity.product",
        variants: &[builtin!(
            "default",
            "Products and prices",
            "Sage Pro web-enabled product and price → Clarity product",
            "products.sagepro.json"
        )],
    },
    FlowEntry {
        flow: "inventory",
        erp: "intacct",
        target_system: "clarity",
        record: "clarity.inventory",
        variants: &[builtin!(
            "default",
            "Stock levels",
            "Intacct ITEMWAREHOUSEINFO on hand → Clarity stock level per location",
            "inventory.intacct.json"
        )],
    },
    FlowEntry {
        flow: "inventory",
        erp: "sagepro",
        target_system: "clarity",
        record: "clarity.inventory",
        variants: &[builtin!(
            "default",
            "Stock levels",
            "Sage Pro QtyOnHand per warehouse → Clarity stock level per location",
            "inventory.sagepro.json"
        )],
    },
    FlowEntry {
        flow: "shipments",
        erp: "intacct",
        target_system: "clarity",
        record: "clarity.shipment",
        variants: &[builtin!(
            "default",
            "Shipments and tracking",
            "Intacct shipping document → Clarity shipment, carrier, tracking and order status",
            "shipments.intacct.json"
        )],
    },
    FlowEntry {
        flow: "shipments",
        erp: "sagepro",
        target_system: "clarity",
        record: "clarity.shipment",
        variants: &[builtin!(
            "default",
            "Shipments",
            "Sage Pro invoice from the order → Clarity shipment and order status",
            "shipments.sagepro.json"
        )],
    },
    FlowEntry {
        flow: "payments",
        erp: "intacct",
        target_system: "intacct",
        record: "arpayment",
        variants: &[
            builtin!(
                "default",
                "Cash receipt",
                "Clarity captured payment → Intacct AR payment (ARPYMT), to undeposited funds or a bank account",
                "payments.intacct.json"
            ),
            builtin!(
                "gl_batch",
                "Journal entry",
                "Clarity captured payment → Intacct GL batch: debit undeposited funds, credit AR or clearing",
                "payments-gl_batch.intacct.json"
            ),
        ],
    },
    FlowEntry {
        flow: "payments",
        erp: "sagepro",
        target_system: "sagepro",
        record: "Invoice",
        variants: &[builtin!(
            "default",
            "Invoice on payment",
            "Sage Pro has no payment endpoint: a captured payment invoices the sales order with the payment's terms",
            "payments.sagepro.json"
        )],
    },
    FlowEntry {
        flow: "returns",
        erp: "intacct",
        target_system: "intacct",
        record: "aradjustment",
        variants: &[builtin!(
            "default",
            "AR credit memo",
            "Clarity return/refund → Intacct AR adjustment with negative lines, exact to the cent",
            "returns.intacct.json"
        )],
    },
    FlowEntry {
        flow: "returns",
        erp: "sagepro",
        target_system: "sagepro",
        record: "Invoice",
        variants: &[builtin!(
            "default",
            "Credit memo",
            "Clarity return/refund → Sage Pro credit memo invoice, restocking as Clarity says",
            "returns.sagepro.json"
        )],
    },
    FlowEntry {
        flow: "invoices",
        erp: "intacct",
        target_system: "clarity",
        record: "clarity.order_update",
        variants: &[builtin!(
            "default",
            "Invoice to order",
            "Intacct Sales Invoice → Clarity order: invoice reference, total, due date, status",
            "invoices.intacct.json"
        )],
    },
    FlowEntry {
        flow: "invoices",
        erp: "sagepro",
        target_system: "clarity",
        record: "clarity.order_update",
        variants: &[builtin!(
            "default",
            "Invoice to order",
            "Sage Pro invoice → Clarity order: invoice number, total, balance, status",
            "invoices.sagepro.json"
        )],
    },
];

/// The flows a pair runs, in the order of design.md's flows table; every one
/// has pre-built templates for both ERPs.
pub const FLOWS: [&str; 8] = [
    "orders",
    "customers",
    "products",
    "inventory",
    "shipments",
    "payments",
    "returns",
    "invoices",
];

/// The flows that have pre-built templates: all of [`FLOWS`].
pub fn builtin_flows() -> &'static [&'static str] {
    &FLOWS
}

fn entry(flow: &str, erp: &str) -> Option<&'static FlowEntry> {
    REGISTRY.iter().find(|e| e.flow == flow && e.erp == erp)
}

/// The default pre-built template document (JSON text) for a flow and an ERP
/// (`intacct` or `sagepro`), if there is one.
pub fn builtin_template(flow: &str, erp: &str) -> Option<&'static str> {
    builtin_variants(flow, erp).first().map(|t| t.document)
}

/// Every pre-built template of a flow for an ERP, the default first; empty
/// when there is none.
pub fn builtin_variants(flow: &str, erp: &str) -> &'static [BuiltinTemplate] {
    entry(flow, erp).map_or(&[], |e| e.variants)
}

/// The schema of the record the flow's default template produces for this
/// ERP pair: an ERP record for flows into the ERP, a Clarity record for the
/// flows coming back.
pub fn flow_target(flow: &str, erp: &str) -> Option<&'static schema::TargetSchema> {
    let e = entry(flow, erp)?;
    schema::schema_for(e.target_system, e.record)
}

/// The id of a source record of a flow, for runs, dead letters and previews:
/// the first of the flow's id fields that holds text or a number.
pub fn flow_record_id(flow: &str, source: &Value) -> Option<String> {
    // Clarity's id first, then Intacct's business id, then Sage Pro's key.
    let paths: &[&str] = match flow {
        "orders" => &["orderId", "id"],
        "customers" => &["customerId", "CUSTOMERID", "CustomerNo", "id"],
        "products" => &["sku", "ITEMID", "ItemCode", "productId", "id"],
        "inventory" => {
            // A stock level is one item in one place.
            for (item, place) in [
                ("ITEMID", "WAREHOUSEID"),
                ("ItemCode", "Warehouse"),
                ("sku", "locationId"),
            ] {
                if let (Some(item), Some(place)) = (text_at(source, item), text_at(source, place)) {
                    return Some(format!("{item}@{place}"));
                }
            }
            &["id"]
        }
        "shipments" => &["shipmentId", "DOCID", "InvoiceNo", "RECORDNO", "id"],
        "payments" => &["paymentInfo.transactionId", "orderId", "id"],
        "returns" => &["returnId", "id"],
        "invoices" => &["DOCID", "InvoiceNo", "RECORDNO", "id"],
        _ => &["id"],
    };
    paths.iter().find_map(|path| text_at(source, path))
}

/// The text or number at a dot path, trimmed; blank is none.
fn text_at(source: &Value, path: &str) -> Option<String> {
    match path.split('.').try_fold(source, |v, key| v.get(key))? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_template_compiles_names_its_flow_erp_and_record_and_the_record_has_a_schema() {
        for flow in builtin_flows() {
            for erp in ["intacct", "sagepro"] {
                let variants = builtin_variants(flow, erp);
                assert!(!variants.is_empty(), "{flow}/{erp} has no template");
                assert_eq!(variants[0].variant, "default", "{flow}/{erp}");
                assert_eq!(builtin_template(flow, erp), Some(variants[0].document));
                let mut names: Vec<&str> = variants.iter().map(|v| v.variant).collect();
                names.sort_unstable();
                names.dedup();
                assert_eq!(
                    names.len(),
                    variants.len(),
                    "{flow}/{erp}: variant names repeat"
                );
                for v in variants {
                    let at = format!("{flow}/{erp}/{}", v.variant);
                    let doc: Value = serde_json::from_str(v.document)
                        .unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
                    let t = CompiledTemplate::compile(&doc)
                        .unwrap_or_else(|e| panic!("{at}: does not compile: {e}"));
                    assert_eq!(t.flow(), Some(*flow), "{at}");
                    assert_eq!(t.erp(), Some(erp), "{at}");
                    let record = t
                        .record()
                        .unwrap_or_else(|| panic!("{at}: names no record"));
                    let schema = schema::schema_for(erp, record)
                        .unwrap_or_else(|| panic!("{at}: record {record} has no schema"));
                    for key in ["version", "description"] {
                        assert!(doc.get(key).is_some(), "{at}: no `{key}`");
                    }
                    // No `direction` means into the ERP.
                    let to_clarity = doc["direction"] == "to_clarity";
                    assert_eq!(schema.erp == "clarity", to_clarity, "{at}: direction");
                    if v.variant != "default" {
                        assert_eq!(doc["variant"], v.variant, "{at}");
                    }
                    // Every top-level rule writes a field the record has.
                    for target in t.targets() {
                        assert!(
                            schema.is_known_target(target),
                            "{at}: `{target}` is not a field of {record}"
                        );
                    }
                }
                let default: Value = serde_json::from_str(variants[0].document).unwrap();
                let target = flow_target(flow, erp).expect("flow target");
                assert_eq!(
                    schema::schema_for(erp, default["record"].as_str().unwrap()),
                    Some(target),
                    "{flow}/{erp}: flow_target is not the default's record"
                );
            }
        }
        assert!(builtin_template("orders", "sap").is_none());
        assert!(builtin_variants("ledgers", "intacct").is_empty());
        assert!(flow_target("ledgers", "intacct").is_none());
        assert_eq!(
            flow_target("products", "sagepro").unwrap().record,
            "clarity.product"
        );
        let variants: Vec<&str> = builtin_variants("payments", "intacct")
            .iter()
            .map(|v| v.variant)
            .collect();
        assert_eq!(variants, ["default", "gl_batch"]);
    }

    #[test]
    fn record_ids_come_from_the_flows_source_fields() {
        let cases = [
            ("orders", json!({"orderId": " CO-1 "}), Some("CO-1")),
            ("customers", json!({"customerId": "CUS-1"}), Some("CUS-1")),
            ("customers", json!({"CUSTOMERID": "C-100"}), Some("C-100")),
            ("customers", json!({"CustomerNo": "DOEJ01"}), Some("DOEJ01")),
            ("products", json!({"ITEMID": "SKU-1"}), Some("SKU-1")),
            (
                "inventory",
                json!({"ITEMID": "SKU-1", "WAREHOUSEID": "WH1"}),
                Some("SKU-1@WH1"),
            ),
            (
                "inventory",
                json!({"ItemCode": "SKU-1", "Warehouse": "MAIN"}),
                Some("SKU-1@MAIN"),
            ),
            (
                "shipments",
                json!({"InvoiceNo": "0009876"}),
                Some("0009876"),
            ),
            (
                "payments",
                json!({"orderId": "CO-1", "paymentInfo": {"transactionId": "ch_1"}}),
                Some("ch_1"),
            ),
            (
                "payments",
                json!({"orderId": "CO-1", "paymentInfo": {}}),
                Some("CO-1"),
            ),
            ("returns", json!({"returnId": "RMA-1"}), Some("RMA-1")),
            ("invoices", json!({"RECORDNO": 812}), Some("812")),
            ("orders", json!({"orderId": "  "}), None),
            ("inventory", json!({"ITEMID": "SKU-1"}), None),
        ];
        for (flow, source, want) in cases {
            assert_eq!(
                flow_record_id(flow, &source).as_deref(),
                want,
                "{flow} {source}"
            );
        }
    }

    /// The rule features the pre-built templates rely on beyond the basics:
    /// a setting deciding a `when`, `each` appending items, negated shares,
    /// and the Intacct and Clarity date forms.
    #[test]
    fn setting_conditions_appended_items_negated_shares_and_date_forms() {
        let doc = |mode: &str| {
            json!({
                "settings": {"mode": mode},
                "rules": [
                    {"target": "lines", "when": {"setting": {"name": "mode", "equals": "line"}},
                     "each": {"source": "items", "rules": [{"target": "sku", "source": "sku"}],
                              "append": [{"when": {"nonzero": "discount"},
                                          "rules": [{"target": "sku", "value": "DISCOUNT"},
                                                    {"target": "amount", "source": "discount", "transform": ["decimal", "negate"]}]}]}},
                    {"target": "lines", "when": {"setting": {"name": "mode", "equals": "allocate"}},
                     "each": {"source": "items", "rules": [{"target": "sku", "source": "sku"}],
                              "distribute": [{"target": "amount", "total": "discount", "weight": ["qty"], "negate": true}]}},
                    {"target": "us", "source": "at", "transform": "date_us"},
                    {"target": "ts", "source": "day", "transform": "timestamp"},
                    {"target": "from_us", "source": "intacct", "transform": "date"}
                ]
            })
        };
        let source = json!({
            "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
            "discount": "10.00",
            "at": "2024-06-01T23:30:00-02:00",
            "day": "2024-06-02",
            "intacct": "06/03/2024 10:02:11"
        });
        let line = CompiledTemplate::compile(&doc("line"))
            .unwrap()
            .apply(&source)
            .unwrap();
        assert_eq!(
            line["lines"],
            json!([{"sku": "A"}, {"sku": "B"}, {"sku": "DISCOUNT", "amount": "-10.00"}])
        );
        assert_eq!(line["us"], "06/02/2024", "UTC date of the timestamp");
        assert_eq!(line["ts"], "2024-06-02T00:00:00Z");
        assert_eq!(line["from_us"], "2024-06-03");
        let allocated = CompiledTemplate::compile(&doc("allocate"))
            .unwrap()
            .apply(&source)
            .unwrap();
        assert_eq!(
            allocated["lines"],
            json!([{"sku": "A", "amount": "-3.33"}, {"sku": "B", "amount": "-6.67"}])
        );
        let neither = CompiledTemplate::compile(&doc("none"))
            .unwrap()
            .apply(&source)
            .unwrap();
        assert!(neither.get("lines").is_none());

        let unknown = json!({"rules": [{"target": "x", "value": 1, "when": {"setting": {"name": "nope", "equals": 1}}}]});
        let err = CompiledTemplate::compile(&unknown).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
