//! Anomaly checks as the worker runs them for every order: one Clarity order
//! against a tenant's 500-order window, and building that window's
//! [`History`] from the rows `backend::history` loads.
//! `cargo bench -p connect-jobs --bench anomaly`.

use connect_jobs::mapping::anomaly::{History, OrderSummary, check_order};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

const WINDOW: usize = 500;

fn order() -> Value {
    let text = include_str!("../tests/fixtures/orders/multi_line_coupon.clarity.json");
    serde_json::from_str(text).unwrap()
}

/// A tenant's recent orders: 80 customers, mostly USD with some CAD, one to
/// four lines each, spread over ten days, none a duplicate of another.
fn window() -> Vec<OrderSummary> {
    (0..WINDOW)
        .map(|i| {
            let lines: Vec<Value> = (0..1 + i % 4)
                .map(|l| {
                    json!({
                        "lineId": l.to_string(), "sku": format!("SKU-{}", 1000 + (i * 7 + l) % 300),
                        "quantity": 1 + (i + l) % 6, "unitPrice": format!("{}.{:02}", 5 + (i * 13 + l) % 120, i % 100),
                    })
                })
                .collect();
            let id = format!("CO-{}", 100_000 + i);
            let o = json!({
                "orderId": id, "customerId": format!("CUS-{}", 5000 + i % 80),
                "currency": if i % 9 == 0 { "CAD" } else { "USD" },
                "orderDate": format!("2024-06-{:02}T{:02}:{:02}:00Z", 1 + i % 10, i % 24, i % 60),
                "totalAmount": format!("{}.{:02}", 20 + (i * 37) % 900, i % 100),
                "lineItems": lines,
            });
            OrderSummary::of(&id, &o)
        })
        .collect()
}

/// `(customer, currency, orders)` rows as `customer_currencies` holds them.
fn customer_rows(customers: usize) -> Vec<(String, String, u64)> {
    (0..customers)
        .map(|i| {
            let currency = if i % 9 == 0 { "CAD" } else { "USD" };
            (
                format!("CUS-{}", 5000 + i),
                currency.to_owned(),
                3 + (i % 20) as u64,
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let order = order();
    let recent = window();
    let mut group = c.benchmark_group("anomaly");

    let history = History::new(recent.clone(), customer_rows(80));
    assert_eq!(history.orders(), WINDOW);
    group.bench_function("check_order_against_500_orders", |b| {
        b.iter(|| check_order(black_box(&order), black_box(&history)))
    });

    // What `history::load_for` builds (one customer's counts) and what
    // `history::load` builds (the 5,000 most recent customers'); the rows
    // are copied outside the timed part.
    for customers in [1, 5_000] {
        let rows = customer_rows(customers);
        group.bench_function(
            format!("history_of_500_orders_{customers}_customers"),
            |b| {
                b.iter_batched(
                    || (recent.clone(), rows.clone()),
                    |(recent, rows)| History::new(recent, rows),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
