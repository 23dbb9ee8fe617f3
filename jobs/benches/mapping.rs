//! Evaluations per second of the compiled default order templates (the
//! product target is ≥ 100k orders/s/core), and of a jaq expression rule for
//! comparison. `cargo bench -p connect-jobs --bench mapping`.

use connect_jobs::mapping::currency::RateTable;
use connect_jobs::mapping::pipeline::{MappingInputs, catalog_resolver, map_record};
use connect_jobs::mapping::sku::CatalogItem;
use connect_jobs::mapping::validate::InMemoryReferences;
use connect_jobs::mapping::{CompiledTemplate, builtin_template};
use criterion::{Criterion, Throughput, criterion_group};
use serde_json::{Value, json};
use std::hint::black_box;

// The product binary's allocator (backend/src/main.rs): figures are for
// mapping as the worker runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn order() -> Value {
    let text = include_str!("../tests/fixtures/orders/multi_line_coupon.clarity.json");
    serde_json::from_str(text).unwrap()
}

fn compiled(erp: &str) -> CompiledTemplate {
    let doc: Value = serde_json::from_str(builtin_template("orders", erp).unwrap()).unwrap();
    CompiledTemplate::compile(&doc).unwrap()
}

fn bench(c: &mut Criterion) {
    let order = order();
    let mut group = c.benchmark_group("orders");
    group.throughput(Throughput::Elements(1));
    // Reference point for the machine: copying the source order once.
    group.bench_function("baseline_clone_of_the_order", |b| {
        b.iter(|| black_box(&order).clone())
    });
    for erp in ["intacct", "sagepro"] {
        let t = compiled(erp);
        group.bench_function(format!("default_template_{erp}_3_lines"), |b| {
            b.iter(|| t.apply(black_box(&order)).unwrap())
        });
    }
    // The whole pipeline the worker runs: conversions (addresses, SKUs
    // against a 200-item catalog, the base currency) then the rules.
    let mut items: Vec<CatalogItem> = (1001..1201)
        .map(|i| CatalogItem {
            sku: format!("SKU-{i}"),
            name: format!("Catalog item {i}"),
        })
        .collect();
    for sku in ["SKU-2002", "SKU-3003"] {
        items.push(CatalogItem {
            sku: sku.into(),
            name: "Fixture item".into(),
        });
    }
    let catalog = catalog_resolver(items);
    let (rates, refs) = (RateTable::default(), InMemoryReferences::new());
    let inputs = MappingInputs {
        rates: &rates,
        catalog: Some(&catalog),
        references: &refs,
        history: None,
    };
    for erp in ["intacct", "sagepro"] {
        let t = compiled(erp);
        group.bench_function(format!("default_pipeline_{erp}_3_lines"), |b| {
            b.iter(|| {
                let m = map_record(&t, None, "CO-100046", black_box(&order), &inputs);
                assert!(m.issues.is_empty());
                m
            })
        });
    }
    let expr = CompiledTemplate::compile(&json!({
        "settings": {"default_warehouse": "WH1", "default_location": "US-EAST"},
        "rules": [{"target": "sotransitems", "expr": "[.lineItems[] | {itemid: .sku, quantity: (.quantity|tostring), price: .unitPrice, warehouseid: $settings.default_warehouse, locationid: $settings.default_location}]"}]
    }))
    .unwrap();
    group.bench_function("one_jaq_expr_rule_3_lines", |b| {
        b.iter(|| expr.apply(black_box(&order)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);

// The worker maps on threads with the stack tenant programs need (the
// binary's runtime is built with it), so no record pays for a thread of its
// own; the bench runs the same way.
fn main() {
    connect_jobs::mapping::on_roomy_stack(|| {
        benches();
        Criterion::default().configure_from_args().final_summary();
    });
}
