//! Tenant mapping history: what anomaly checks compare a mapped record with.
//!
//! Each synced order leaves a summary row ([`OrderSummary`]) in
//! `order_history`; the loads read the newest [`WINDOW`] of them and
//! customers' all-time currency counts, two indexed queries. The worker
//! checks one order per job, so it loads only that order's customer's
//! counts ([`load_for`], [`load_for_event`]); [`load`], for the preview of
//! many records, loads the [`CUSTOMERS`] most recently seen.
//! [`record_order`] keeps the table at about twice the window per tenant
//! (pruned every [`PRUNE_EVERY`] orders).

use connect_jobs::mapping::anomaly::{self, History, OrderSummary};
use rust_decimal::Decimal;
use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde_json::Value;
use time::OffsetDateTime;

use crate::db::{Db, now_ms};

/// Orders per tenant the anomaly checks look back over.
pub const WINDOW: i64 = 500;
/// The table is pruned to twice the window once every this many recorded
/// orders rather than on each: it holds at most this many more rows.
pub const PRUNE_EVERY: i64 = 16;
/// Customers whose currency counts are loaded, the most recently seen first.
pub const CUSTOMERS: i64 = 5_000;

type SummaryRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
);
type CurrencyRow = (String, String, i64);

/// The tenant's recent orders and the usual currencies of the
/// [`CUSTOMERS`] customers seen most recently: for checking records of any
/// customer (the preview).
pub async fn load(db: &Db, tenant_id: &str) -> Result<History, sqlx::Error> {
    let recent = recent(db, tenant_id).await?;
    let customers = recent_customers(db, tenant_id).await?;
    Ok(history(recent, customers))
}

/// The tenant's recent orders and one customer's currency counts: what
/// checking one order needs. `None`, an order that names no customer, has
/// no usual currency to compare with, so no counts are read.
pub async fn load_for(
    db: &Db,
    tenant_id: &str,
    customer_id: Option<&str>,
) -> Result<History, sqlx::Error> {
    let recent = recent(db, tenant_id).await?;
    let customers = match customer_id {
        Some(customer) => one_customer(db, tenant_id, customer).await?,
        None => Vec::new(),
    };
    Ok(history(recent, customers))
}

/// The tenant's recent orders and the currency counts checking an
/// `order.created` event's order needs ([`customers_for_event`]): what the
/// sync engine builds from its in-memory window, read from the database.
pub async fn load_for_event(
    db: &Db,
    tenant_id: &str,
    payload: &str,
) -> Result<History, sqlx::Error> {
    let recent = recent_orders(db, tenant_id).await?;
    let customers = customers_for_event(db, tenant_id, payload).await?;
    Ok(History::new(recent, customers))
}

/// The customer an event's order names (`Some(None)`: it names none), or
/// `None` when the event does not carry the order. Reads only those two
/// fields, skipping the rest of the payload without building it.
pub fn event_customer(payload: &str) -> Option<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Event {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        object: Object,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        #[serde(rename = "customerId", default)]
        customer_id: Option<Value>,
        // Present at all, as `flows::orders` decides whether to fetch.
        #[serde(rename = "lineItems", default, deserialize_with = "present")]
        line_items: bool,
    }
    fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        IgnoredAny::deserialize(d).map(|_| true)
    }
    let object = serde_json::from_str::<Event>(payload).ok()?.data.object;
    object
        .line_items
        .then(|| object.customer_id.as_ref().and_then(anomaly::customer_key))
}

/// The tenant's newest [`WINDOW`] order summaries, newest first: the window
/// the sync engine keeps in memory.
pub async fn recent_orders(db: &Db, tenant_id: &str) -> Result<Vec<OrderSummary>, sqlx::Error> {
    Ok(recent(db, tenant_id)
        .await?
        .into_iter()
        .map(summary)
        .collect())
}

/// The currency counts checking one event's order needs: its customer's
/// (none for an order that names no customer), or, for an event that does
/// not carry its order, the [`CUSTOMERS`] customers seen most recently, as
/// [`load_for_event`] reads them.
pub async fn customers_for_event(
    db: &Db,
    tenant_id: &str,
    payload: &str,
) -> Result<Vec<(String, String, u64)>, sqlx::Error> {
    let rows = match event_customer(payload) {
        Some(Some(customer)) => one_customer(db, tenant_id, &customer).await?,
        Some(None) => Vec::new(),
        None => recent_customers(db, tenant_id).await?,
    };
    Ok(counts(rows).collect())
}

/// One customer's order counts per currency.
async fn one_customer(
    db: &Db,
    tenant_id: &str,
    customer_id: &str,
) -> Result<Vec<CurrencyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, currency, orders FROM customer_currencies \
         WHERE tenant_id = $1 AND customer_id = $2",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .fetch_all(db.pool())
    .await
}

/// The counts of the [`CUSTOMERS`] customers seen most recently.
async fn recent_customers(db: &Db, tenant_id: &str) -> Result<Vec<CurrencyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, currency, orders FROM customer_currencies WHERE tenant_id = $1 \
         ORDER BY last_seen_at DESC, customer_id, currency LIMIT $2",
    )
    .bind(tenant_id)
    .bind(CUSTOMERS)
    .fetch_all(db.pool())
    .await
}

/// The newest [`WINDOW`] summaries, read in index order.
async fn recent(db: &Db, tenant_id: &str) -> Result<Vec<SummaryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT source_id, customer_id, currency, total, max_quantity, fingerprint, placed_at \
         FROM order_history WHERE tenant_id = $1 \
         ORDER BY recorded_at DESC, source_id DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(WINDOW)
    .fetch_all(db.pool())
    .await
}

fn history(rows: Vec<SummaryRow>, customers: Vec<CurrencyRow>) -> History {
    History::new(rows.into_iter().map(summary), counts(customers))
}

fn summary(row: SummaryRow) -> OrderSummary {
    let (source_id, customer_id, currency, total, max_quantity, fingerprint, placed_at) = row;
    OrderSummary {
        source_id,
        customer_id,
        currency,
        total: total.as_deref().and_then(parse_decimal),
        max_quantity: max_quantity.as_deref().and_then(parse_decimal),
        fingerprint,
        placed_at: placed_at.and_then(from_ms),
    }
}

fn counts(rows: Vec<CurrencyRow>) -> impl Iterator<Item = (String, String, u64)> {
    rows.into_iter()
        .map(|(customer, currency, n)| (customer, currency, n.max(0) as u64))
}

/// Stores the summary of an order the tenant synced, on the caller's
/// connection (the run's transaction). Recording the same `source_id` again
/// (a replay, an updated order) replaces its summary and counts the customer
/// once. Returns the summary stored and the tenant's history revision it
/// made ([`crate::revisions::history_changed`]).
pub async fn record_order(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    pair_id: &str,
    source_id: &str,
    order: &Value,
) -> Result<(OrderSummary, i64), sqlx::Error> {
    let summary = OrderSummary::of(source_id, order);
    let revision = crate::revisions::history_changed(conn, tenant_id).await?;
    record_summary(conn, tenant_id, pair_id, &summary).await?;
    if revision % PRUNE_EVERY == 0 {
        prune(conn, tenant_id).await?;
    }
    Ok((summary, revision))
}

async fn record_summary(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    pair_id: &str,
    summary: &OrderSummary,
) -> Result<(), sqlx::Error> {
    let source_id = summary.source_id.as_str();
    let now = now_ms();
    let values = |sql: &'static str| {
        sqlx::query(sql)
            .bind(tenant_id)
            .bind(source_id)
            .bind(pair_id)
            .bind(summary.customer_id.as_deref())
            .bind(summary.currency.as_deref())
            .bind(summary.total.map(|d| d.to_string()))
            .bind(summary.max_quantity.map(|d| d.to_string()))
            .bind(&summary.fingerprint)
            .bind(summary.placed_at.map(to_ms))
            .bind(now)
    };
    // Most orders are recorded once: the insert alone says so, and only a
    // replayed or updated order reads what it replaces.
    let inserted = values(
        "INSERT INTO order_history (tenant_id, source_id, pair_id, customer_id, currency, total, \
         max_quantity, fingerprint, placed_at, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) \
         ON CONFLICT (tenant_id, source_id) DO NOTHING",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let previous: Option<(Option<String>, Option<String>)> = if inserted {
        None
    } else {
        let previous = sqlx::query_as(
            "SELECT customer_id, currency FROM order_history WHERE tenant_id = $1 AND source_id = $2",
        )
        .bind(tenant_id)
        .bind(source_id)
        .fetch_optional(&mut *conn)
        .await?;
        values(
            "UPDATE order_history SET pair_id = $3, customer_id = $4, currency = $5, total = $6, \
             max_quantity = $7, fingerprint = $8, placed_at = $9, recorded_at = $10 \
             WHERE tenant_id = $1 AND source_id = $2",
        )
        .execute(&mut *conn)
        .await?;
        previous
    };

    let current = (summary.customer_id.clone(), summary.currency.clone());
    let first_time = previous.is_none();
    if !first_time && previous.as_ref() == Some(&current) {
        return Ok(());
    }
    if let Some((Some(customer), Some(currency))) = previous {
        sqlx::query(
            "UPDATE customer_currencies SET orders = orders - 1 \
             WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3 AND orders > 0",
        )
        .bind(tenant_id)
        .bind(&customer)
        .bind(&currency)
        .execute(&mut *conn)
        .await?;
    }
    if let (Some(customer), Some(currency)) = current {
        sqlx::query(
            "INSERT INTO customer_currencies (tenant_id, customer_id, currency, orders, last_seen_at) \
             VALUES ($1,$2,$3,1,$4) ON CONFLICT (tenant_id, customer_id, currency) \
             DO UPDATE SET orders = customer_currencies.orders + 1, last_seen_at = excluded.last_seen_at",
        )
        .bind(tenant_id)
        .bind(&customer)
        .bind(&currency)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Drops summaries older than twice the window, so the table stays bounded
/// without a pass on every insert deciding row by row.
async fn prune(conn: &mut sqlx::AnyConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM order_history WHERE tenant_id = $1 AND recorded_at < \
         (SELECT recorded_at FROM order_history WHERE tenant_id = $1 \
          ORDER BY recorded_at DESC LIMIT 1 OFFSET $2)",
    )
    .bind(tenant_id)
    .bind(WINDOW * 2)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn parse_decimal(raw: &str) -> Option<Decimal> {
    Decimal::from_str_exact(raw).ok()
}

fn to_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::event_customer;

    #[test]
    fn an_event_names_its_orders_customer_as_the_summary_would() {
        let full = |object: &str| format!(r#"{{"id":"evt_1","data":{{"object":{object}}}}}"#);
        assert_eq!(
            event_customer(&full(
                r#"{"orderId":"CO-1","customerId":" CUS-1 ","lineItems":[{"sku":"A","x":{"y":[1,2]}}]}"#
            )),
            Some(Some("CUS-1".to_owned()))
        );
        assert_eq!(
            event_customer(&full(r#"{"lineItems":[],"customerId":42}"#)),
            Some(Some("42".to_owned())),
            "a numeric id is the text record_order stores"
        );
        assert_eq!(
            event_customer(&full(
                r#"{"orderId":"CO-1","lineItems":[],"customerId":""}"#
            )),
            Some(None)
        );
        assert_eq!(
            event_customer(&full(r#"{"orderId":"CO-1","lineItems":null}"#)),
            Some(None)
        );
    }

    #[test]
    fn an_event_without_the_order_names_no_customer() {
        assert_eq!(
            event_customer(r#"{"data":{"object":{"orderId":"CO-1","customerId":"CUS-1"}}}"#),
            None,
            "the order is fetched later; its customer may differ"
        );
        assert_eq!(event_customer(r#"{"data":{}}"#), None);
        assert_eq!(event_customer("not json"), None);
    }
}
