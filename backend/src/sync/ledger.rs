//! The ledger table behind [`LedgerStore`], for one pair and one record.
//! A lookup reads; an entry is written when the target confirmed the write,
//! held until the record's outcome and written in its transaction
//! ([`PairLedger::commit`]), with the usage it counts: the transaction, and
//! the API calls made.

use std::sync::Arc;

use connect_jobs::flows::ledger::{LedgerEntry, LedgerKey, LedgerStore, Link};
use parking_lot::Mutex;

use crate::db::{Db, now_ms};
use crate::ids::{PairId, TenantId};
use crate::usage::{self, CallTally};

pub struct PairLedger {
    db: Db,
    tenant_id: TenantId,
    pair_id: PairId,
    /// Confirmed writes not yet stored: the key, its idempotency key and
    /// the target's id.
    completed: Mutex<Vec<(LedgerKey, String, String)>>,
    /// The idempotency keys lookups handed out, for their completions.
    keys: Mutex<Vec<(LedgerKey, String)>>,
    /// Links not yet stored: the key, the other system's id, and what was
    /// written there (JSON), if anything.
    links: Mutex<Vec<(LedgerKey, String, Option<String>)>>,
    /// The pair's API calls not yet stored, and how many the last commit
    /// took (given back if its transaction does not commit).
    calls: Arc<CallTally>,
    taken: Mutex<i64>,
}

impl PairLedger {
    pub fn new(db: Db, tenant_id: &TenantId, pair_id: &PairId, calls: Arc<CallTally>) -> Self {
        Self {
            db,
            tenant_id: tenant_id.clone(),
            pair_id: pair_id.clone(),
            completed: Mutex::new(Vec::new()),
            keys: Mutex::new(Vec::new()),
            links: Mutex::new(Vec::new()),
            calls,
            taken: Mutex::new(0),
        }
    }

    /// Stores the completions held so far, on the outcome's transaction,
    /// and counts the usage: completing an entry is the moment a record
    /// reached the target system, so the tenant's transaction is counted
    /// here, once (a retry that finds the record already created, or an
    /// outcome recorded by another worker after a lost lease, counts
    /// nothing); the API calls are counted with it in one statement.
    pub async fn commit(&self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        let completed = std::mem::take(&mut *self.completed.lock());
        let mut transactions = 0;
        for (key, idempotency_key, target_id) in completed {
            // Only the first confirmation of an entry changes it: a retry
            // that found the record, or an outcome recorded by another worker
            // after a lost lease, leaves it, and counts nothing.
            let first = sqlx::query(
                "INSERT INTO ledger (pair_id, tenant_id, flow, source_id, operation, idempotency_key, \
                 target_id, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8) \
                 ON CONFLICT (pair_id, flow, source_id, operation) \
                 DO UPDATE SET target_id = excluded.target_id, updated_at = excluded.updated_at \
                 WHERE ledger.target_id IS NULL",
            )
            .bind(&self.pair_id)
            .bind(&self.tenant_id)
            .bind(key.flow)
            .bind(&key.source_id)
            .bind(key.operation)
            .bind(&idempotency_key)
            .bind(&target_id)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if first {
                transactions += 1;
            }
        }
        let links = std::mem::take(&mut *self.links.lock());
        for (key, target_id, content) in links {
            // A link follows the latest write, whichever side made it.
            if content.is_some() {
                transactions += 1;
            }
            sqlx::query(
                "INSERT INTO ledger (pair_id, tenant_id, flow, source_id, operation, idempotency_key, \
                 target_id, content, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,'link',$6,$7,$8,$8) \
                 ON CONFLICT (pair_id, flow, source_id, operation) \
                 DO UPDATE SET target_id = excluded.target_id, \
                 content = COALESCE(excluded.content, ledger.content), updated_at = excluded.updated_at",
            )
            .bind(&self.pair_id)
            .bind(&self.tenant_id)
            .bind(key.flow)
            .bind(&key.source_id)
            .bind(key.operation)
            .bind(&target_id)
            .bind(content)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        }
        let calls = self.calls.take();
        *self.taken.lock() += calls;
        usage::add_counts(
            conn,
            &self.tenant_id,
            &[
                (usage::TRANSACTIONS, transactions),
                (usage::API_CALLS, calls),
            ],
        )
        .await
    }

    /// The transaction [`Self::commit`] wrote on did not commit: the calls
    /// it took wait for the next outcome.
    pub fn rolled_back(&self) {
        self.calls
            .give_back(std::mem::take(&mut *self.taken.lock()));
    }

    /// Stores the calls made so far on their own, for an attempt that ends
    /// without an outcome (put back to wait for the tenant's rate limit).
    pub async fn store_calls(&self) -> Result<(), sqlx::Error> {
        let calls = self.calls.take();
        let mut conn = match self.db.pool().acquire().await {
            Ok(c) => c,
            Err(e) => {
                self.calls.give_back(calls);
                return Err(e);
            }
        };
        let stored = usage::add(&mut conn, &self.tenant_id, usage::API_CALLS, calls).await;
        if stored.is_err() {
            self.calls.give_back(calls);
        }
        stored
    }
}

#[async_trait::async_trait]
impl LedgerStore for PairLedger {
    async fn lookup(&self, key: &LedgerKey, idempotency_key: &str) -> anyhow::Result<LedgerEntry> {
        let stored: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT idempotency_key, target_id FROM ledger \
             WHERE pair_id = $1 AND flow = $2 AND source_id = $3 AND operation = $4",
        )
        .bind(&self.pair_id)
        .bind(key.flow)
        .bind(&key.source_id)
        .bind(key.operation)
        .fetch_optional(self.db.pool())
        .await?;
        let (idempotency_key, target_id) =
            stored.unwrap_or_else(|| (idempotency_key.to_owned(), None));
        self.keys
            .lock()
            .push((key.clone(), idempotency_key.clone()));
        Ok(LedgerEntry {
            idempotency_key,
            target_id,
        })
    }

    async fn complete(&self, key: &LedgerKey, target_id: &str) -> anyhow::Result<()> {
        let idempotency_key = self
            .keys
            .lock()
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, i)| i.clone())
            .ok_or_else(|| anyhow::anyhow!("{key:?} was completed without a lookup"))?;
        self.completed
            .lock()
            .push((key.clone(), idempotency_key, target_id.to_owned()));
        Ok(())
    }

    async fn link(&self, key: &LedgerKey) -> anyhow::Result<Option<Link>> {
        let stored: Option<(Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT target_id, content, updated_at FROM ledger \
             WHERE pair_id = $1 AND flow = $2 AND source_id = $3 AND operation = $4",
        )
        .bind(&self.pair_id)
        .bind(key.flow)
        .bind(&key.source_id)
        .bind(key.operation)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(stored.and_then(|(target_id, content, updated_at)| {
            Some(Link {
                target_id: target_id?,
                // Stored by us as JSON; unreadable content is only a missed echo.
                content: content.and_then(|c| serde_json::from_str(&c).ok()),
                updated_at,
            })
        }))
    }

    async fn set_link(
        &self,
        key: &LedgerKey,
        target_id: &str,
        content: Option<serde_json::Value>,
    ) -> anyhow::Result<()> {
        let content = content.map(|c| c.to_string());
        self.links
            .lock()
            .push((key.clone(), target_id.to_owned(), content));
        Ok(())
    }
}
