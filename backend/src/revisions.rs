//! The change counters behind the sync engine's caches (table `revisions`,
//! written here only). A writer bumps a counter in the transaction of its
//! change; the engine reads the counters with the pair's status, one query
//! per record, and keeps what it loaded for as long as they stand still.

/// A pair's or a tenant's inputs to the mapping changed: templates and
/// connections (pair), rates and egress allowances (tenant).
pub async fn inputs_changed(
    conn: &mut sqlx::AnyConnection,
    scope_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revisions (scope_id, inputs, history) VALUES ($1, 1, 0) \
         ON CONFLICT (scope_id) DO UPDATE SET inputs = revisions.inputs + 1",
    )
    .bind(scope_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's order history gained (or replaced) an order; the new count,
/// which tells the engine whether its in-memory window missed another
/// writer's order.
pub async fn history_changed(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO revisions (scope_id, inputs, history) VALUES ($1, 0, 1) \
         ON CONFLICT (scope_id) DO UPDATE SET history = revisions.history + 1 \
         RETURNING history",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await?;
    Ok(n)
}
