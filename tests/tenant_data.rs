//! Tenant mapping data: the currency rate table (API, CSV, page) and the
//! order history the anomaly checks compare with.

mod common;

use common::{TestApp, WebSession};
use connect_jobs::mapping::anomaly::{AnomalyKind, check_order};
use connect_jobs::mapping::currency::CurrencyCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::date;

const RATES: &str = "/api/v1/currency-rates";
const RATES_CSV: &str = "/api/v1/currency-rates.csv";

fn row(from: &str, to: &str, date: &str, rate: &str) -> Value {
    json!({"from": from, "to": to, "date": date, "rate": rate})
}

async fn tenant_id(app: &TestApp, token: &str) -> String {
    app.call("GET", "/api/v1/me", Some(token), None, 200).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends `body` as the CSV file; returns the status and the body text.
async fn put_csv(app: &TestApp, token: &str, body: &str) -> (u16, Value) {
    let resp = app
        .client
        .put(app.url(RATES_CSV))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_csv(app: &TestApp, token: &str, query: &str) -> String {
    let resp = app
        .client
        .get(app.url(&format!("{RATES_CSV}{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    resp.text().await.unwrap()
}

fn error_field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_refused_rate_table_names_the_row_and_field_and_saves_nothing() {
    let app = common::spawn_app().await;
    let t = app.tenant("Rates Co").await;
    let good = json!({"rates": [row("EUR", "USD", "2024-01-01", "1.0825")]});
    app.call("PUT", RATES, Some(&t), Some(good), 200).await;

    for (rows, field, why) in [
        (
            vec![
                row("EUR", "USD", "2024-02-01", "1.08"),
                row("EUX", "USD", "2024-02-01", "1"),
            ],
            "rates[1].from",
            "not an active ISO 4217",
        ),
        (
            vec![row("EUR", "USD", "2024-02-01", "-1.08")],
            "rates[0].rate",
            "not positive",
        ),
        (
            vec![row("EUR", "USD", "2024-02-01", "0")],
            "rates[0].rate",
            "not positive",
        ),
        (
            vec![row("EUR", "USD", "2024-02-30", "1.08")],
            "rates[0].date",
            "YYYY-MM-DD",
        ),
        (
            vec![
                row("EUR", "USD", "2024-02-01", "1.08"),
                row("GBP", "USD", "2024-02-01", "1.27"),
                row("eur", "usd", "2024-02-01", "1.09"),
            ],
            "rates[2].date",
            "given twice, first in rates[0]",
        ),
    ] {
        let e = app
            .call("PUT", RATES, Some(&t), Some(json!({"rates": rows})), 422)
            .await;
        assert_eq!(error_field(&e), field, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(why), "{e}");
    }
    let e = app
        .call(
            "PUT",
            RATES,
            Some(&t),
            Some(json!({"rates": [{"from": "EUR"}]})),
            422,
        )
        .await;
    assert_eq!(error_field(&e), "rates[0].to", "{e}");

    let table = app.call("GET", RATES, Some(&t), None, 200).await;
    let rates = table["rates"].as_array().unwrap();
    assert_eq!(
        rates.len(),
        1,
        "nothing of the refused tables was saved: {table}"
    );
    assert_eq!(rates[0]["rate"], "1.0825");
    app.stop().await;
}

#[tokio::test]
async fn the_table_filters_by_pair_and_round_trips_through_csv() {
    let app = common::spawn_app().await;
    let t = app.tenant("Rates Co").await;
    let csv = "from,to,date,rate\n\
               EUR,USD,2024-01-01,1.10\n\
               EUR,USD,2024-02-01,1.0825\n\
               GBP,USD,2024-01-01,1.27\n\
               USD,JPY,2024-01-01,147.123\n";
    let (status, body) = put_csv(&app, &t, csv).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rates"].as_array().unwrap().len(), 4);
    assert_eq!(get_csv(&app, &t, "").await, csv);

    let eur = app
        .call("GET", &format!("{RATES}?from=eur"), Some(&t), None, 200)
        .await;
    let dates: Vec<&str> = eur["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2024-01-01", "2024-02-01"]);
    let to_jpy = app
        .call("GET", &format!("{RATES}?to=JPY"), Some(&t), None, 200)
        .await;
    assert_eq!(to_jpy["rates"][0]["from"], "USD");
    assert!(
        to_jpy["rates"][0]["created_by"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    let pair = app
        .call(
            "GET",
            &format!("{RATES}?from=GBP&to=USD"),
            Some(&t),
            None,
            200,
        )
        .await;
    assert_eq!(pair["rates"].as_array().unwrap().len(), 1);
    let e = app
        .call("GET", &format!("{RATES}?from=EURO"), Some(&t), None, 422)
        .await;
    assert_eq!(error_field(&e), "from");
    assert_eq!(
        get_csv(&app, &t, "?from=GBP").await,
        "from,to,date,rate\nGBP,USD,2024-01-01,1.27\n"
    );

    // The worker's table converts with the stored rows, by date.
    let tenant = tenant_id(&app, &t).await;
    let table = connect::rates::load(&app.state.db, &tenant).await.unwrap();
    let (eur_code, usd) = (
        CurrencyCode::parse("EUR").unwrap(),
        CurrencyCode::parse("USD").unwrap(),
    );
    assert_eq!(
        table
            .convert(Decimal::from(100), eur_code, usd, date!(2024 - 01 - 31))
            .unwrap()
            .to_string(),
        "110.00"
    );
    assert_eq!(
        table
            .convert(Decimal::from(100), eur_code, usd, date!(2024 - 03 - 01))
            .unwrap()
            .to_string(),
        "108.25"
    );
    assert!(
        table
            .convert(Decimal::from(100), eur_code, usd, date!(2023 - 12 - 31))
            .is_err(),
        "no rate before the first date"
    );

    // Replacing with JSON keeps only the new rows; both are audited.
    app.call(
        "PUT",
        RATES,
        Some(&t),
        Some(json!({"rates": [row("CAD", "USD", "2024-01-01", "0.74")]})),
        200,
    )
    .await;
    assert_eq!(
        get_csv(&app, &t, "").await,
        "from,to,date,rate\nCAD,USD,2024-01-01,0.74\n"
    );
    let audit = app.call("GET", "/api/v1/audit", Some(&t), None, 200).await;
    let details: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "currency_rates.replace")
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details, ["1 rates (json)", "4 rates (csv)"]);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_csv_names_the_line_and_saves_nothing() {
    let app = common::spawn_app().await;
    let t = app.tenant("Rates Co").await;
    let (status, _) = put_csv(&app, &t, "from,to,date,rate\nEUR,USD,2024-01-01,1.10\n").await;
    assert_eq!(status, 200);
    for (csv, field, why) in [
        ("", "line 1", "empty"),
        ("from,to,when,rate\n", "line 1", "unknown column \"when\""),
        (
            "from,to,date,rate\nEUR,USD,2024-01-01,1.1\nEUR,USD,2024-02-01\n",
            "line 3",
            "3 fields",
        ),
        (
            "from,to,date,rate\nEUR,USD,2024-01-01,1.1\n\nEUR,XXX,2024-02-01,1\n",
            "line 4.to",
            "not an active ISO 4217",
        ),
        (
            "from,to,date,rate\nEUR,USD,2024-01-01,1.1\nEUR,USD,1 Feb 2024,1\n",
            "line 3.date",
            "YYYY-MM-DD",
        ),
        (
            "from,to,date,rate\nEUR,USD,2024-01-01,1.1\nEUR,USD,2024-01-01,1.2\n",
            "line 3.date",
            "first in line 2",
        ),
        (
            "from,to,date,rate\nEUR,USD,2024-01-01,-2\n",
            "line 2.rate",
            "not positive",
        ),
    ] {
        let (status, e) = put_csv(&app, &t, csv).await;
        assert_eq!(status, 422, "{csv:?}: {e}");
        assert_eq!(error_field(&e), field, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(why), "{e}");
    }
    assert_eq!(
        get_csv(&app, &t, "").await,
        "from,to,date,rate\nEUR,USD,2024-01-01,1.10\n"
    );
    app.stop().await;
}

#[tokio::test]
async fn members_read_rates_and_only_owners_and_admins_change_them() {
    let app = common::spawn_app().await;
    let owner = app.tenant("Rates Co").await;
    app.call(
        "PUT",
        RATES,
        Some(&owner),
        Some(json!({"rates": [row("EUR", "USD", "2024-01-01", "1.1")]})),
        200,
    )
    .await;
    let tenant = tenant_id(&app, &owner).await;
    let user_id = format!("usr_member_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_lower, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $3, 'not-a-hash', 'member', 0)",
    )
    .bind(&user_id)
    .bind(&tenant)
    .bind(format!("{user_id}@example.com"))
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let (_, member) = connect::auth::tokens::issue(
        &app.state.db,
        Some(&tenant),
        &user_id,
        &connect::audit::Actor::system(),
        "member token",
        None,
    )
    .await
    .unwrap();

    let listed = app.call("GET", RATES, Some(&member), None, 200).await;
    assert_eq!(listed["rates"].as_array().unwrap().len(), 1);
    assert!(get_csv(&app, &member, "").await.contains("EUR,USD"));
    app.call("PUT", RATES, Some(&member), Some(json!({"rates": []})), 403)
        .await;
    let (status, _) = put_csv(&app, &member, "from,to,date,rate\n").await;
    assert_eq!(status, 403);
    app.call("GET", RATES, None, None, 401).await;
    let still = app.call("GET", RATES, Some(&owner), None, 200).await;
    assert_eq!(still["rates"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// A new tenant's owner, signed in to the web UI.
async fn sign_up(app: &TestApp) -> WebSession {
    let (email, _) = app.owner("Rates Co").await;
    WebSession::sign_in(app, &email).await
}

/// The rates page's CSV import, with the given CSRF token.
async fn import(app: &TestApp, b: &WebSession, csrf: &str, csv: &str) -> (u16, String, String) {
    b.upload(app, "/rates/import", csrf, &[], "rates.csv", csv)
        .await
}

#[tokio::test]
async fn the_rates_page_adds_removes_imports_and_exports_without_javascript() {
    let app = common::spawn_app().await;
    let b = sign_up(&app).await;
    let (status, page) = b.get(&app, "/rates").await;
    assert_eq!(status, 200);
    assert!(page.contains("No rates yet"), "{page}");
    assert!(page.contains("href=\"/rates\""), "the nav links the page");

    // A refused row keeps what was typed and names the field.
    let (status, page) = b
        .post(
            &app,
            "/rates",
            &[
                ("from", "EUR"),
                ("to", "USD"),
                ("date", "2024-01-01"),
                ("rate", "-1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Error: Currency rates"), "{page}");
    assert!(page.contains("id=\"rate-rate-error\""), "{page}");
    assert!(page.contains("value=\"-1\""), "{page}");

    let add = [
        ("from", "eur"),
        ("to", "usd"),
        ("date", "2024-01-01"),
        ("rate", "1.0825"),
    ];
    let (status, _) = b.post(&app, "/rates", &add).await;
    assert_eq!(status, 303);
    let (_, page) = b.get(&app, "/rates?done=added").await;
    assert!(page.contains("Rate added."), "{page}");
    assert!(page.contains("1 EUR = 1.0825 USD"), "{page}");
    let (status, page) = b.post(&app, "/rates", &add).await;
    assert_eq!(status, 200);
    assert!(page.contains("already exists"), "{page}");

    // Without the form's CSRF token nothing changes.
    let resp = b
        .client
        .post(app.url("/rates"))
        .header("cookie", &b.cookie)
        .form(&[
            ("csrf", "forged"),
            ("from", "GBP"),
            ("to", "USD"),
            ("date", "2024-01-01"),
            ("rate", "1.2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    let (status, _) = b.post(&app, "/rates/EUR/USD/2024-01-01/remove", &[]).await;
    assert_eq!(status, 303);
    let (status, _) = b.post(&app, "/rates/EUR/USD/2024-01-01/remove", &[]).await;
    assert_eq!(status, 404, "already removed");

    // A bad file is named by line, and nothing is saved.
    let (status, _, page) = import(
        &app,
        &b,
        &b.csrf,
        "from,to,date,rate\nGBP,USD,2024-01-01,1.27\nGBP,USD,2024-02-01,zero\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("line 3, rate"), "{page}");
    assert!(page.contains("Nothing was saved"), "{page}");
    let (status, location, _) = import(
        &app,
        &b,
        &b.csrf,
        "from,to,date,rate\nGBP,USD,2024-01-01,1.27\nGBP,USD,2024-02-01,1.26\n",
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/rates?done=imported&n=2")
    );
    let (status, _, _) = import(&app, &b, "forged", "from,to,date,rate\n").await;
    assert_eq!(status, 403);

    let audit = connect::audit::list(&app.state.db, None, 50).await.unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.action.starts_with("currency_rates."))
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "currency_rates.replace",
            "currency_rates.remove",
            "currency_rates.add"
        ]
    );

    let (status, csv) = b.get(&app, "/rates.csv?from=GBP").await;
    assert_eq!(status, 200);
    assert_eq!(
        csv,
        "from,to,date,rate\nGBP,USD,2024-01-01,1.27\nGBP,USD,2024-02-01,1.26\n"
    );
    app.stop().await;
}

/// A balanced Clarity order: `lines` of (quantity, unit price) plus 5.00 shipping.
fn order(id: &str, customer: &str, currency: &str, lines: &[(u32, &str)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (q, p))| {
            json!({"lineId": format!("{id}-{i}"), "sku": format!("SKU-{i}"), "quantity": q, "unitPrice": p})
        })
        .collect();
    let subtotal: Decimal = lines
        .iter()
        .map(|(q, p)| Decimal::from(*q) * Decimal::from_str_exact(p).unwrap())
        .sum();
    json!({
        "orderId": id, "customerId": customer, "currency": currency,
        "orderDate": "2024-06-01T10:00:00Z",
        "subtotalAmount": subtotal.to_string(), "discountAmount": "0.00",
        "shippingAmount": "5.00", "taxAmount": "0.00",
        "totalAmount": (subtotal + Decimal::from(5)).to_string(),
        "lineItems": items,
    })
}

async fn record(app: &TestApp, tenant: &str, id: &str, order: &Value) {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    connect::history::record_order(&mut conn, tenant, "pair_test", id, order)
        .await
        .unwrap();
}

fn kinds(order: &Value, history: &connect_jobs::mapping::anomaly::History) -> Vec<AnomalyKind> {
    check_order(order, history).iter().map(|a| a.kind).collect()
}

#[tokio::test]
async fn recorded_orders_make_anomalies_visible_once_there_are_enough() {
    let app = common::spawn_app().await;
    let t = app.tenant("History Co").await;
    let tenant = tenant_id(&app, &t).await;
    let big = order("CO-BIG", "CUS-NEW", "USD", &[(1, "9000.00")]);

    for i in 0..19 {
        let price = format!("{}.00", 40 + i);
        let o = order(
            &format!("CO-{i}"),
            &format!("CUS-{i}"),
            "USD",
            &[(1, &price)],
        );
        record(&app, &tenant, &format!("CO-{i}"), &o).await;
    }
    let history = connect::history::load(&app.state.db, &tenant)
        .await
        .unwrap();
    assert_eq!(history.orders(), 19);
    assert_eq!(
        kinds(&big, &history),
        [],
        "19 orders are too few to call anything unusual"
    );

    let o = order("CO-19", "CUS-19", "USD", &[(1, "59.00")]);
    record(&app, &tenant, "CO-19", &o).await;
    let history = connect::history::load(&app.state.db, &tenant)
        .await
        .unwrap();
    let found = check_order(&big, &history);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::AmountOutlier);
    assert!(
        found[0].message.contains("of the last 20 USD orders"),
        "{}",
        found[0].message
    );

    // The same content under a new id is a duplicate; the same id is not.
    let again = order("CO-19-B", "CUS-19", "USD", &[(1, "59.00")]);
    assert_eq!(kinds(&again, &history), [AnomalyKind::DuplicateContent]);
    assert_eq!(kinds(&o, &history), []);

    // A customer's usual currency, counted once per order however often
    // the order is recorded (a replay).
    let eur = order("CO-EUR", "CUS-19", "EUR", &[(1, "50.00")]);
    for _ in 0..3 {
        record(&app, &tenant, "CO-19", &o).await;
    }
    let history = connect::history::load(&app.state.db, &tenant)
        .await
        .unwrap();
    assert_eq!(history.orders(), 20);
    assert_eq!(kinds(&eur, &history), [], "one order is no habit");
    for i in 0..2 {
        let id = format!("CO-19-{i}");
        let o = order(&id, "CUS-19", "USD", &[(2, "30.00")]);
        record(&app, &tenant, &id, &o).await;
    }
    let history = connect::history::load(&app.state.db, &tenant)
        .await
        .unwrap();
    assert_eq!(kinds(&eur, &history), [AnomalyKind::UnusualCurrency]);

    // Another tenant's history is its own.
    let other = app.tenant("Other Co").await;
    let other = tenant_id(&app, &other).await;
    let theirs = connect::history::load(&app.state.db, &other).await.unwrap();
    assert!(theirs.is_empty());
    assert_eq!(kinds(&again, &theirs), []);
    app.stop().await;
}

#[tokio::test]
async fn the_worker_load_reads_only_the_orders_customer_and_still_sees_the_window() {
    let app = common::spawn_app().await;
    let t = app.tenant("Narrow Co").await;
    let tenant = tenant_id(&app, &t).await;
    // 21 USD orders (6 of them CUS-A's), CUS-B's 3 in EUR.
    for i in 0..24 {
        let price = format!("{}.00", 40 + i);
        let (customer, currency) = if i % 8 == 1 {
            ("CUS-B", "EUR")
        } else if i % 4 == 0 {
            ("CUS-A", "USD")
        } else {
            ("CUS-OTHER", "USD")
        };
        let id = format!("CO-{i}");
        let o = order(&id, customer, currency, &[(1, &price)]);
        record(&app, &tenant, &id, &o).await;
    }
    let a_in_eur = order("CO-A", "CUS-A", "EUR", &[(1, "50.00")]);
    let b_in_usd = order("CO-B", "CUS-B", "USD", &[(1, "50.00")]);
    let big = order("CO-BIG", "CUS-A", "USD", &[(1, "9000.00")]);
    let db = &app.state.db;

    let for_a = connect::history::load_for(db, &tenant, Some("CUS-A"))
        .await
        .unwrap();
    assert_eq!(for_a.orders(), 24, "the whole window, whoever the customer");
    assert_eq!(kinds(&a_in_eur, &for_a), [AnomalyKind::UnusualCurrency]);
    assert_eq!(kinds(&big, &for_a), [AnomalyKind::AmountOutlier]);
    assert_eq!(
        kinds(&b_in_usd, &for_a),
        [],
        "another customer's counts are not loaded"
    );
    let for_b = connect::history::load_for(db, &tenant, Some("CUS-B"))
        .await
        .unwrap();
    assert_eq!(kinds(&b_in_usd, &for_b), [AnomalyKind::UnusualCurrency]);
    let nobody = connect::history::load_for(db, &tenant, None).await.unwrap();
    assert_eq!(nobody.orders(), 24);
    assert_eq!(kinds(&a_in_eur, &nobody), []);

    // From the stored event: a full order narrows to its customer; an event
    // with only the id cannot, and loads the recent customers instead.
    let full =
        json!({"id": "evt_1", "type": "order.created", "data": {"object": a_in_eur}}).to_string();
    let by_event = connect::history::load_for_event(db, &tenant, &full)
        .await
        .unwrap();
    assert_eq!(kinds(&a_in_eur, &by_event), [AnomalyKind::UnusualCurrency]);
    assert_eq!(kinds(&b_in_usd, &by_event), []);
    let id_only =
        json!({"id": "evt_2", "type": "order.created", "data": {"object": {"orderId": "CO-B"}}})
            .to_string();
    let by_event = connect::history::load_for_event(db, &tenant, &id_only)
        .await
        .unwrap();
    assert_eq!(kinds(&a_in_eur, &by_event), [AnomalyKind::UnusualCurrency]);
    assert_eq!(kinds(&b_in_usd, &by_event), [AnomalyKind::UnusualCurrency]);

    // Another tenant's customer of the same id is theirs.
    let other = app.tenant("Other Narrow Co").await;
    let other = tenant_id(&app, &other).await;
    let theirs = connect::history::load_for(db, &other, Some("CUS-A"))
        .await
        .unwrap();
    assert!(theirs.is_empty());
    assert_eq!(kinds(&a_in_eur, &theirs), []);
    app.stop().await;
}

/// Delivers a signed `order.created` carrying the whole order and waits for
/// its run to succeed; returns the run.
async fn sync_through_the_worker(app: &TestApp, token: &str, pair: &str, order: &Value) -> Value {
    run_through_the_worker(app, token, pair, order, "succeeded").await
}

/// Delivers a signed `order.created` carrying the whole order and waits for
/// its run to reach `status`; returns the run.
async fn run_through_the_worker(
    app: &TestApp,
    token: &str,
    pair: &str,
    order: &Value,
    status: &str,
) -> Value {
    app.deliver_order(token, pair, order).await;
    let id = order["orderId"].as_str().unwrap();
    app.run_of(token, pair, id, status).await
}

#[tokio::test]
async fn the_worker_flags_a_customers_unusual_currency_from_its_own_history() {
    let app = common::spawn_app().await;
    let t = app.tenant("Worker History Co").await;
    let pair = app.sandbox_pair(&t, "intacct").await;
    // The sandbox customer CUS-5001 orders in USD three times…
    for q in 1..=3 {
        let id = format!("CO-97000{q}");
        let mut o = order(&id, "CUS-5001", "USD", &[(q, "12.50")]);
        o["lineItems"][0]["sku"] = json!("SKU-1001");
        let run = sync_through_the_worker(&app, &t, &pair, &o).await;
        assert_eq!(run["flags"], json!([]), "{run}");
    }
    // …then in CAD (the sandbox company converts it).
    let mut o = order("CO-970009", "CUS-5001", "CAD", &[(4, "12.50")]);
    o["lineItems"][0]["sku"] = json!("SKU-1001");
    let run = sync_through_the_worker(&app, &t, &pair, &o).await;
    let flags = run["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{run}");
    assert_eq!(flags[0]["kind"], "anomaly:unusual_currency");
    assert_eq!(
        flags[0]["message"],
        "currency CAD differs from customer CUS-5001's usual USD (3 of their 3 orders)"
    );
    app.stop().await;
}

/// The tenant's rows as `FROM→TO DATE RATE BY`, in the table's order.
async fn rate_rows(app: &TestApp, token: &str) -> Vec<String> {
    app.call("GET", RATES, Some(token), None, 200).await["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let by = r["created_by"].as_str().unwrap();
            let by = if by.contains('@') { "owner" } else { by };
            format!(
                "{}→{} {} {} {by}",
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap(),
                r["date"].as_str().unwrap(),
                r["rate"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_sandbox_pair_adds_its_sample_rates_to_the_tenants_visible_table_once() {
    let app = common::spawn_app().await;
    let t = app.tenant("Sandbox Rates Co").await;
    assert_eq!(rate_rows(&app, &t).await, Vec::<String>::new());

    app.sandbox_pair(&t, "intacct").await;
    let seeded = [
        "CAD→USD 2000-01-01 0.73 sandbox",
        "USD→CAD 2000-01-01 1.37 sandbox",
    ];
    assert_eq!(rate_rows(&app, &t).await, seeded);
    assert_eq!(
        get_csv(&app, &t, "?from=CAD").await,
        "from,to,date,rate\nCAD,USD,2000-01-01,0.73\n"
    );

    // A second sandbox pair finds them there and adds nothing.
    app.sandbox_pair(&t, "sagepro").await;
    assert_eq!(rate_rows(&app, &t).await, seeded);
    let audit = app.call("GET", "/api/v1/audit", Some(&t), None, 200).await;
    let added: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "currency_rates.sandbox_added")
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["CAD→USD 0.73, USD→CAD 1.37"]);
    app.stop().await;
}

#[tokio::test]
async fn a_sandbox_pair_never_overrides_the_tenants_own_rate() {
    let app = common::spawn_app().await;
    let t = app.tenant("Own Rates Co").await;
    app.call(
        "PUT",
        RATES,
        Some(&t),
        Some(json!({"rates": [row("CAD", "USD", "2024-01-01", "0.7412")]})),
        200,
    )
    .await;
    app.sandbox_pair(&t, "intacct").await;
    // Only the missing direction is added; the tenant's CAD→USD is untouched,
    // with no sample rate before it either.
    assert_eq!(
        rate_rows(&app, &t).await,
        [
            "CAD→USD 2024-01-01 0.7412 owner",
            "USD→CAD 2000-01-01 1.37 sandbox"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn removed_sandbox_rates_stay_removed_and_the_worker_converts_only_with_the_table() {
    let app = common::spawn_app().await;
    let t = app.tenant("Replaced Rates Co").await;
    let pair = app.sandbox_pair(&t, "intacct").await;
    app.call(
        "PUT",
        RATES,
        Some(&t),
        Some(json!({"rates": [row("EUR", "USD", "2024-01-01", "1.08")]})),
        200,
    )
    .await;

    // A CAD order now has no rate: refused naming the currency, not
    // converted with a hidden sample rate…
    let mut o = order("CO-971001", "CUS-5001", "CAD", &[(1, "12.50")]);
    o["lineItems"][0]["sku"] = json!("SKU-1001");
    let run = run_through_the_worker(&app, &t, &pair, &o, "dead").await;
    assert_eq!(run["error_field"], "currency", "{run}");
    // …and neither the worker nor the preview put the sample rates back.
    let preview = app
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/templates/orders/preview"),
            Some(&t),
            Some(json!({"records": [o]})),
            200,
        )
        .await;
    assert!(
        preview["results"][0]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "currency"),
        "{preview}"
    );
    assert_eq!(rate_rows(&app, &t).await, ["EUR→USD 2024-01-01 1.08 owner"]);

    // The tenant's own CAD rate is what converts from then on.
    app.call(
        "PUT",
        RATES,
        Some(&t),
        Some(json!({"rates": [row("CAD", "USD", "2024-01-01", "0.7")]})),
        200,
    )
    .await;
    let mut o = order("CO-971002", "CUS-5001", "CAD", &[(1, "12.50")]);
    o["lineItems"][0]["sku"] = json!("SKU-1001");
    run_through_the_worker(&app, &t, &pair, &o, "succeeded").await;
    app.stop().await;
}

/// Tenants whose sandbox pairs predate the visible sample rates get them from
/// migration 0011, without losing a rate of their own.
#[tokio::test]
async fn the_migration_gives_older_sandbox_tenants_the_sample_rates_they_lack() {
    let app = common::spawn_app().await;
    let old = app.tenant("Old Sandbox Co").await;
    app.sandbox_pair(&old, "intacct").await;
    let own = row("CAD", "USD", "2024-01-01", "0.7412");
    // As such a tenant's table was: no sample rows, one rate of their own.
    app.call("PUT", RATES, Some(&old), Some(json!({"rates": [own]})), 200)
        .await;
    let bystander = app.tenant("No Sandbox Co").await;
    let sql = if common::backend() == "postgres" {
        include_str!("../migrations/postgres/0011_sandbox_rates.sql")
    } else {
        include_str!("../migrations/sqlite/0011_sandbox_rates.sql")
    };
    sqlx::raw_sql(sql)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        rate_rows(&app, &old).await,
        [
            "CAD→USD 2024-01-01 0.7412 owner",
            "USD→CAD 2000-01-01 1.37 sandbox"
        ]
    );
    assert_eq!(rate_rows(&app, &bystander).await, Vec::<String>::new());
    // Run again (as on a database that had it already): nothing more.
    sqlx::raw_sql(sql)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(rate_rows(&app, &old).await.len(), 2);
    app.stop().await;
}
