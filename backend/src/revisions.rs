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

/// Values kept per key while the revision they were read at stands: each
/// reader passes the revision it just read with the rest of its row, and
/// gets the value back only if nothing changed since it was kept.
pub struct Cached<V> {
    entries: parking_lot::Mutex<std::collections::HashMap<String, (i64, V)>>,
    max: usize,
}

impl<V: Clone> Cached<V> {
    /// At most `max` keys; past that, an arbitrary one makes room (the next
    /// reader of it reads again).
    pub fn new(max: usize) -> Self {
        Self {
            entries: parking_lot::Mutex::new(std::collections::HashMap::new()),
            max,
        }
    }

    pub fn get(&self, key: &str, revision: i64) -> Option<V> {
        self.entries
            .lock()
            .get(key)
            .filter(|(at, _)| *at == revision)
            .map(|(_, v)| v.clone())
    }

    pub fn keep(&self, key: &str, revision: i64, value: V) {
        let mut entries = self.entries.lock();
        if entries.len() >= self.max
            && !entries.contains_key(key)
            && let Some(any) = entries.keys().next().cloned()
        {
            entries.remove(&any);
        }
        entries.insert(key.to_owned(), (revision, value));
    }
}

#[cfg(test)]
mod tests {
    use super::Cached;

    #[test]
    fn a_value_is_served_only_at_the_revision_it_was_read_at() {
        let cache = Cached::new(2);
        cache.keep("pair_a", 3, "secret-3");
        assert_eq!(cache.get("pair_a", 3), Some("secret-3"));
        assert_eq!(cache.get("pair_a", 4), None, "a newer revision reads again");
        cache.keep("pair_b", 0, "b");
        cache.keep("pair_c", 0, "c");
        let held = ["pair_a", "pair_b", "pair_c"]
            .iter()
            .filter(|k| cache.get(k, if **k == "pair_a" { 3 } else { 0 }).is_some())
            .count();
        assert_eq!(held, 2, "bounded");
    }
}
