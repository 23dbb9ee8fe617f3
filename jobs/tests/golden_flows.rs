//! The pre-built templates of every flow other than the default orders
//! templates (those are in `golden_orders.rs`), through the whole pipeline:
//! conversions, rules, validation against the record's schema.
//!
//! A directory `jobs/tests/golden/<flow>.<erp>[.<variant>]/` holds the cases
//! of one pre-built template: `<case>.input.json` is `{"note", "settings"?,
//! "lookups"?, "record"}` (the settings and lookup tables given replace the
//! template's of the same name; `record` is the source record) and
//! `<case>.expected.json` the full result: output, issues and flags. After a
//! deliberate change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p connect-jobs --test golden_flows` and read
//! the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use connect_jobs::connectors::{clarity, intacct, sagepro};
use connect_jobs::mapping::currency::{CurrencyCode, RateRow, RateTable};
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver, map_record};
use connect_jobs::mapping::schema::{RefKind, schema_for};
use connect_jobs::mapping::sku::CatalogItem;
use connect_jobs::mapping::validate::InMemoryReferences;
use connect_jobs::mapping::{CompiledTemplate, builtin_flows, builtin_variants, flow_record_id};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;

const CATALOG: [(&str, &str); 6] = [
    ("SKU-1001", "Classic Widget"),
    ("SKU-1002", "Classic Lantern"),
    ("SKU-1003", "Classic Backpack"),
    ("SKU-2002", "Gadget"),
    ("SKU-3003", "Cable"),
    ("DISCOUNT", "Discount"),
];

/// The tenant's master data the references are checked against.
fn references() -> InMemoryReferences {
    InMemoryReferences::new()
        .with(RefKind::Item, CATALOG.iter().map(|(s, _)| *s))
        .with(
            RefKind::GlAccount,
            [
                "1100", "1200", "1210", "1215", "1220", "2400", "4900", "4910",
            ],
        )
        .with(
            RefKind::Location,
            ["US-EAST", "US-WEST", "CA-TORONTO", "UK-LONDON"],
        )
        .with(RefKind::Department, ["ECOM", "MKTPLACE", "B2B", "RETAIL"])
        .with(RefKind::Warehouse, ["WH1", "MAIN"])
}

fn rates() -> RateTable {
    let row = |from: &str, date: &str, rate: &str| RateRow {
        from: CurrencyCode::parse(from).unwrap(),
        to: CurrencyCode::parse("USD").unwrap(),
        date: time::Date::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap(),
        rate: Decimal::from_str(rate).unwrap(),
    };
    RateTable::from_rows([
        row("EUR", "2024-01-01", "1.0850"),
        row("EUR", "2024-03-01", "1.0920"),
        // No GBP rate before May: a March GBP amount has none.
        row("GBP", "2024-05-01", "1.27"),
        row("CAD", "2024-01-01", "0.73"),
    ])
    .unwrap()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(flow, erp, variant)` of a golden directory; the default orders
/// templates' own directories (`orders.<erp>`) are not this test's.
fn parse_dir(name: &str) -> Option<(String, String, String)> {
    let mut parts = name.split('.');
    let (flow, erp) = (parts.next()?, parts.next()?);
    let variant = parts.next().unwrap_or("default");
    if flow == "orders" && variant == "default" {
        return None;
    }
    Some((flow.into(), erp.into(), variant.into()))
}

fn golden_dirs() -> Vec<(String, String, String, PathBuf)> {
    let mut dirs: Vec<_> = std::fs::read_dir(root())
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let (flow, erp, variant) = parse_dir(&name)?;
            Some((flow, erp, variant, e.path()))
        })
        .collect();
    dirs.sort();
    dirs
}

/// What every golden directory must cover (the issue's list, where it
/// applies to the flow).
fn required_cases(flow: &str, erp: &str, variant: &str) -> Vec<&'static str> {
    let mut cases = vec!["missing_required_field"];
    match (flow, variant) {
        ("orders", "invoice") => cases.extend(["coupon_line", "coupon_allocated"]),
        _ => cases.push("normal"),
    }
    if flow == "customers" && variant == "default" {
        cases.push("address_normalization");
    }
    // Sage Pro has no currency field on a payment-as-invoice.
    if flow == "returns" || (flow == "payments" && erp == "intacct") {
        cases.push("multi_currency");
    }
    cases
}

/// The pre-built document with the case's settings and lookup tables.
fn template(flow: &str, erp: &str, variant: &str, case: &Value) -> CompiledTemplate {
    let builtin = builtin_variants(flow, erp)
        .iter()
        .find(|v| v.variant == variant)
        .unwrap_or_else(|| panic!("no pre-built {flow}/{erp}/{variant}"));
    let mut doc: Value = serde_json::from_str(builtin.document).unwrap();
    for section in ["settings", "lookups"] {
        if let Some(over) = case.get(section).and_then(Value::as_object) {
            let target = doc[section].as_object_mut().unwrap();
            for (k, v) in over {
                assert!(
                    target.contains_key(k),
                    "{flow}/{erp}/{variant}: no {section}.{k} to replace"
                );
                target.insert(k.clone(), v.clone());
            }
        }
    }
    CompiledTemplate::compile(&doc).unwrap_or_else(|e| panic!("{flow}/{erp}/{variant}: {e}"))
}

/// Whether a valid output is what the connector sends for the record: it
/// deserializes into the connector's wire type once the worker has taken
/// out what goes elsewhere (`_route`, and the ids that go in the path).
fn sends_as(erp: &str, record: &str, output: &Value) -> Result<(), String> {
    fn parse<T: DeserializeOwned>(body: Value) -> Result<(), String> {
        serde_json::from_value::<T>(body)
            .map(drop)
            .map_err(|e| format!("not a {}: {e}", std::any::type_name::<T>()))
    }
    let mut body = output.clone();
    let fields = body.as_object_mut().ok_or("output is not an object")?;
    fields.remove("_route");
    match (erp, record) {
        ("intacct", "sotransaction") => parse::<intacct::wire::SoTransaction>(body),
        ("intacct", "aradjustment") => parse::<intacct::wire::ArAdjustment>(body),
        // Generic objects go as they are (upper-case fields, nested groups).
        ("intacct", "customer" | "arpayment" | "glbatch") => {
            parse::<intacct::functions::Record>(body)
        }
        ("sagepro", "SalesOrder") => parse::<sagepro::wire::OrderInput>(body),
        ("sagepro", "Invoice") => parse::<sagepro::wire::InvoiceInput>(body),
        ("sagepro", "Customer") => parse::<sagepro::wire::CustomerInput>(body),
        (_, "clarity.inventory") => {
            for key in ["sku", "locationId"] {
                fields
                    .remove(key)
                    .ok_or(format!("no `{key}` for the path"))?;
            }
            parse::<clarity::wire::InventorySet>(body)
        }
        (_, "clarity.shipment") => {
            fields
                .remove("orderId")
                .ok_or("no `orderId` for the path")?;
            fields.remove("orderStatus");
            parse::<clarity::wire::NewShipment>(body)
        }
        (_, "clarity.order_update") => {
            fields
                .remove("orderId")
                .ok_or("no `orderId` for the path")?;
            Ok(())
        }
        // Clarity takes these as JSON bodies with no wire type of their own.
        (_, "clarity.product" | "clarity.customer") => Ok(()),
        _ => Err(format!("no wire type known for {erp}/{record}")),
    }
}

#[test]
fn every_pre_built_template_matches_its_golden_results() {
    let rates = rates();
    let catalog = catalog_resolver(
        CATALOG
            .iter()
            .map(|(sku, name)| CatalogItem {
                sku: (*sku).into(),
                name: (*name).into(),
            })
            .collect(),
    );
    let refs = references();
    let inputs = MappingInputs {
        rates: &rates,
        catalog: Some(&catalog),
        references: &refs,
        history: None,
    };
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for (flow, erp, variant, dir) in golden_dirs() {
        covered.insert((flow.clone(), erp.clone(), variant.clone()));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".input.json").map(str::to_owned)
            })
            .collect();
        names.sort();
        for required in required_cases(&flow, &erp, &variant) {
            assert!(
                names.iter().any(|n| n == required),
                "{}: no `{required}` case",
                dir.display()
            );
        }
        for name in names {
            let case = read(&dir.join(format!("{name}.input.json")));
            let template = template(&flow, &erp, &variant, &case);
            let record = template
                .record()
                .expect("pre-built templates name their record");
            let schema = schema_for(&erp, record).expect("record schema");
            let source = &case["record"];
            let id = flow_record_id(&flow, source).unwrap_or_else(|| "(no id)".into());
            let mapped = map_record(&template, Some(schema), &id, source, &inputs);
            let got = serde_json::to_value(&mapped).unwrap();
            let expected_path = dir.join(format!("{name}.expected.json"));
            if update {
                let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
                std::fs::write(&expected_path, text).unwrap();
            }
            if got != read(&expected_path) {
                failures.push(format!(
                    "{}/{name}: got\n{}",
                    dir.display(),
                    serde_json::to_string_pretty(&got).unwrap()
                ));
            }
            if let (true, Some(output)) = (mapped.is_ok(), &mapped.output)
                && let Err(e) = sends_as(&erp, record, output)
            {
                failures.push(format!("{}/{name}: {e}", dir.display()));
            }
            // A case named for a failure must fail, and every other must pass.
            let should_fail = name.starts_with("missing_") || name.starts_with("bad_");
            if mapped.is_ok() == should_fail {
                failures.push(format!(
                    "{}/{name}: expected it to {}: {:?}",
                    dir.display(),
                    if should_fail { "fail" } else { "pass" },
                    mapped.issues
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Every pre-built template outside the default orders ones has goldens.
    for flow in builtin_flows() {
        for erp in ["intacct", "sagepro"] {
            for v in builtin_variants(flow, erp) {
                if *flow == "orders" && v.variant == "default" {
                    continue;
                }
                let key = (flow.to_string(), erp.to_string(), v.variant.to_string());
                assert!(covered.contains(&key), "no golden directory for {key:?}");
            }
        }
    }
}

#[test]
fn the_wire_check_refuses_what_a_connector_could_not_send() {
    let bad_quantity =
        serde_json::json!({"CustomerNo": "X", "LineItems": [{"ItemCode": "A", "Quantity": "two"}]});
    assert!(sends_as("sagepro", "Invoice", &bad_quantity).is_err());
    let no_carrier = serde_json::json!({"orderId": "CO-1", "lines": []});
    assert!(sends_as("intacct", "clarity.shipment", &no_carrier).is_err());
    let no_path = serde_json::json!({"quantityOnHand": 1});
    assert!(sends_as("sagepro", "clarity.inventory", &no_path).is_err());
    let routed = serde_json::json!({"_route": {"company": "01"}, "SalesOrderNo": "0001234"});
    assert!(sends_as("sagepro", "Invoice", &routed).is_ok());
}
