//! The default order templates through the whole pipeline (conversions,
//! rules, schema validation, anomaly flags), over fixture records, compared
//! with the full expected result: output, issues and flags.
//!
//! Each case is `jobs/tests/golden/orders.<erp>/<case>.source.json`:
//! `{"note", "settings"?, "lookups"?, "order"}` — the settings and lookup
//! tables given replace the template's of the same name — next to
//! `<case>.expected.json`. After a deliberate change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p connect-jobs --test golden_orders` and
//! read the diff.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use connect_jobs::mapping::anomaly::History;
use connect_jobs::mapping::currency::{CurrencyCode, RateRow, RateTable};
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver, map_record};
use connect_jobs::mapping::schema::RefKind;
use connect_jobs::mapping::sku::CatalogItem;
use connect_jobs::mapping::validate::InMemoryReferences;
use connect_jobs::mapping::{CompiledTemplate, builtin_template, flow_target};
use rust_decimal::Decimal;
use serde_json::Value;

/// Cases every ERP directory must have: what the issue asks the goldens to cover.
const REQUIRED: [&str; 9] = [
    "multi_currency",
    "tax_inclusive",
    "coupon",
    "fuzzy_sku_above",
    "fuzzy_sku_below",
    "missing_required_field",
    "address_normalization",
    "missing_rate",
    "exact_lookup",
];

const CATALOG: [(&str, &str); 12] = [
    ("SKU-1001", "Classic Widget"),
    ("SKU-1002", "Classic Lantern"),
    ("SKU-1003", "Classic Backpack"),
    ("SKU-1004", "Classic Water Bottle"),
    ("SKU-1005", "Classic Desk Lamp"),
    ("SKU-1021", "Compact Widget"),
    ("SKU-1041", "Deluxe Widget"),
    ("SKU-1061", "Heavy-Duty Widget"),
    ("SKU-2002", "Gadget"),
    ("SKU-3003", "Cable"),
    ("SKU-1010", "Classic Mug"),
    ("SKU-1011", "Classic Kettle"),
];

fn rates() -> RateTable {
    let row = |from: &str, to: &str, date: &str, rate: &str| RateRow {
        from: CurrencyCode::parse(from).unwrap(),
        to: CurrencyCode::parse(to).unwrap(),
        date: time::Date::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap(),
        rate: Decimal::from_str(rate).unwrap(),
    };
    RateTable::from_rows([
        row("EUR", "USD", "2024-01-01", "1.0850"),
        row("EUR", "USD", "2024-03-01", "1.0920"),
        row("GBP", "USD", "2024-01-01", "1.27"),
        row("JPY", "USD", "2024-01-01", "0.0067"),
    ])
    .unwrap()
}

fn dir(erp: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("orders.{erp}"))
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The default template with the case's settings and lookup tables.
fn template(erp: &str, case: &Value) -> CompiledTemplate {
    let mut doc: Value = serde_json::from_str(builtin_template("orders", erp).unwrap()).unwrap();
    for section in ["settings", "lookups"] {
        if let Some(over) = case.get(section).and_then(Value::as_object) {
            let target = doc[section].as_object_mut().unwrap();
            for (k, v) in over {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    CompiledTemplate::compile(&doc).unwrap_or_else(|e| panic!("{erp}: {e}"))
}

fn cases(erp: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir(erp))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".source.json").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

fn run_goldens(erp: &str) {
    let names = cases(erp);
    for required in REQUIRED {
        assert!(
            names.iter().any(|n| n == required),
            "{erp}: no `{required}` case"
        );
    }
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
    let refs = InMemoryReferences::new().with(RefKind::Item, CATALOG.iter().map(|(s, _)| *s));
    // An empty history: only what the order itself shows (totals) is flagged.
    let history = History::from_orders([]);
    let inputs = MappingInputs {
        rates: &rates,
        catalog: Some(&catalog),
        references: &refs,
        history: Some(&history),
    };
    let schema = flow_target("orders", erp).expect("orders schema");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for name in names {
        let case = read(&dir(erp).join(format!("{name}.source.json")));
        let order = &case["order"];
        let id = order["orderId"].as_str().unwrap();
        let mapped = map_record(&template(erp, &case), Some(schema), id, order, &inputs);
        let got = serde_json::to_value(&mapped).unwrap();
        let expected_path = dir(erp).join(format!("{name}.expected.json"));
        if update {
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
        }
        if got != read(&expected_path) {
            failures.push(format!(
                "{erp}/{name}: got\n{}",
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn default_intacct_orders_template_matches_the_golden_results() {
    run_goldens("intacct");
}

#[test]
fn default_sagepro_orders_template_matches_the_golden_results() {
    run_goldens("sagepro");
}

/// The goldens' claims that do not depend on reading the files: a converted
/// order adds up, a refused one carries what to fix.
#[test]
fn every_golden_sales_order_adds_up_and_every_refusal_says_what_to_fix() {
    for erp in ["intacct", "sagepro"] {
        for name in cases(erp) {
            let expected = read(&dir(erp).join(format!("{name}.expected.json")));
            let issues = expected["issues"].as_array().unwrap();
            for issue in issues {
                for key in ["record", "field", "rule", "message"] {
                    assert!(
                        issue[key].as_str().is_some_and(|s| !s.is_empty()),
                        "{erp}/{name}: issue without {key}: {issue}"
                    );
                }
                assert!(issue["suggestion"].is_string(), "{erp}/{name}: {issue}");
            }
            let Some(out) = expected["output"].as_object() else {
                continue;
            };
            if !issues.is_empty() {
                continue;
            }
            let dec = |v: &Value| match v {
                Value::String(s) => Decimal::from_str(s).unwrap(),
                other => Decimal::from_str(&other.to_string()).unwrap(),
            };
            let round2 = |d: Decimal| {
                d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            };
            let (sum, total) = if erp == "intacct" {
                let mut sum = Decimal::ZERO;
                for l in out["sotransitems"].as_array().unwrap() {
                    sum += round2(dec(&l["quantity"]) * dec(&l["price"]));
                }
                for s in out["subtotals"].as_array().unwrap() {
                    sum += dec(&s["total"]);
                }
                (sum, None)
            } else {
                let mut sum = dec(&out["FreightAmount"]);
                for l in out["LineItems"].as_array().unwrap() {
                    sum += round2(dec(&l["Quantity"]) * dec(&l["UnitPrice"])) - dec(&l["Discount"])
                        + dec(&l["TaxAmount"]);
                }
                (sum, Some(dec(&out["TotalAmount"])))
            };
            if let Some(total) = total {
                assert_eq!(sum, total, "{erp}/{name}");
            }
            assert!(sum > Decimal::ZERO, "{erp}/{name}");
        }
    }
}
