//! Evaluations per second of the compiled default order templates (the
//! product target is ≥ 100k orders/s/core), and of a jaq expression rule for
//! comparison. `cargo bench -p connect-jobs --bench mapping`.

use connect_jobs::mapping::{CompiledTemplate, builtin_template};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

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
criterion_main!(benches);
