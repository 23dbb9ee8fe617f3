//! Stock effects (spec §3.1, §3.4, §3.5): orders commit what is available
//! (a short line backorders, availability never goes negative), shipping
//! takes stock off hand and out of commitment, restocking puts it back.
//! Quantities are ten-thousandths; every function runs in the caller's write
//! transaction.

use axum::http::StatusCode;

use super::{SpError, SpResult};

/// One order line's demand on a warehouse.
pub(super) struct Demand {
    pub line_no: u32,
    pub item_code: String,
    pub warehouse: String,
    pub qty: i64,
}

async fn levels(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    item: &str,
    warehouse: &str,
) -> SpResult<(i64, i64)> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT qty_on_hand, qty_committed FROM sim_sagepro_inventory \
         WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3",
    )
    .bind(pair_id)
    .bind(item)
    .bind(warehouse)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.unwrap_or((0, 0)))
}

async fn set_levels(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    item: &str,
    warehouse: &str,
    (on_hand, committed): (i64, i64),
    now: i64,
) -> SpResult<()> {
    sqlx::query(
        "UPDATE sim_sagepro_inventory SET qty_on_hand = $4, qty_committed = $5, \
         row_version = row_version + 1, last_modified = $6 \
         WHERE pair_id = $1 AND item_code = $2 AND warehouse = $3",
    )
    .bind(pair_id)
    .bind(item)
    .bind(warehouse)
    .bind(on_hand)
    .bind(committed)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Commits what is available for each line; `true` when any line is short
/// (the order is then `Backordered`).
pub(super) async fn commit(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sales_order_no: &str,
    demands: &[Demand],
    now: i64,
) -> SpResult<bool> {
    let mut short = false;
    for d in demands {
        let (on_hand, committed) = levels(conn, pair_id, &d.item_code, &d.warehouse).await?;
        let take = d.qty.min((on_hand - committed).max(0));
        short |= take < d.qty;
        if take > 0 {
            set_levels(
                conn,
                pair_id,
                &d.item_code,
                &d.warehouse,
                (on_hand, committed + take),
                now,
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO sim_sagepro_commitments (pair_id, sales_order_no, line_no, item_code, warehouse, qty) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(pair_id)
        .bind(sales_order_no)
        .bind(i64::from(d.line_no))
        .bind(&d.item_code)
        .bind(&d.warehouse)
        .bind(take)
        .execute(&mut *conn)
        .await?;
    }
    Ok(short)
}

/// Gives back everything the order's lines hold (before a full replace).
pub(super) async fn release(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sales_order_no: &str,
    now: i64,
) -> SpResult<()> {
    let held: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT item_code, warehouse, qty FROM sim_sagepro_commitments \
         WHERE pair_id = $1 AND sales_order_no = $2 ORDER BY line_no",
    )
    .bind(pair_id)
    .bind(sales_order_no)
    .fetch_all(&mut *conn)
    .await?;
    for (item, warehouse, qty) in held {
        if qty > 0 {
            let (on_hand, committed) = levels(conn, pair_id, &item, &warehouse).await?;
            set_levels(
                conn,
                pair_id,
                &item,
                &warehouse,
                (on_hand, (committed - qty).max(0)),
                now,
            )
            .await?;
        }
    }
    sqlx::query("DELETE FROM sim_sagepro_commitments WHERE pair_id = $1 AND sales_order_no = $2")
        .bind(pair_id)
        .bind(sales_order_no)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ships `qty` of an order line: off hand, and out of what the line holds.
/// Shipping more than is on hand is refused (`field` names the line).
pub(super) async fn ship(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    sales_order_no: &str,
    line: &Demand,
    field: &str,
    now: i64,
) -> SpResult<()> {
    let (on_hand, committed) = levels(conn, pair_id, &line.item_code, &line.warehouse).await?;
    if on_hand < line.qty {
        return Err(SpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_STATE",
            "Not enough stock on hand to ship",
        )
        .detail(
            field,
            format!(
                "Item '{}' has {} on hand in '{}'",
                line.item_code,
                super::masters::qty(on_hand),
                line.warehouse
            ),
        ));
    }
    let held: Option<(i64,)> = sqlx::query_as(
        "SELECT qty FROM sim_sagepro_commitments WHERE pair_id = $1 AND sales_order_no = $2 AND line_no = $3",
    )
    .bind(pair_id)
    .bind(sales_order_no)
    .bind(i64::from(line.line_no))
    .fetch_optional(&mut *conn)
    .await?;
    let released = held.map(|(q,)| q).unwrap_or(0).min(line.qty);
    set_levels(
        conn,
        pair_id,
        &line.item_code,
        &line.warehouse,
        (on_hand - line.qty, (committed - released).max(0)),
        now,
    )
    .await?;
    if released > 0 {
        sqlx::query(
            "UPDATE sim_sagepro_commitments SET qty = qty - $4 \
             WHERE pair_id = $1 AND sales_order_no = $2 AND line_no = $3",
        )
        .bind(pair_id)
        .bind(sales_order_no)
        .bind(i64::from(line.line_no))
        .bind(released)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A direct invoice ships from stock (`qty` > 0); a credit memo line with
/// `Restock` puts the returned quantity back on hand (`qty` < 0 shipped).
pub(super) async fn move_on_hand(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    item: &str,
    warehouse: &str,
    delta: i64,
    now: i64,
) -> SpResult<()> {
    let (on_hand, committed) = levels(conn, pair_id, item, warehouse).await?;
    set_levels(
        conn,
        pair_id,
        item,
        warehouse,
        ((on_hand + delta).max(0), committed),
        now,
    )
    .await
}
