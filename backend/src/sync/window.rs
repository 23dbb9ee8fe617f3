//! Each tenant's recent-order window for the anomaly checks, kept in memory
//! instead of read per record. The window is tied to the tenant's history
//! revision (`crate::revisions`), bumped in the transaction that records an
//! order: this process adds its own orders as their revisions commit, in
//! order, and a revision it did not make (another worker process) or
//! missed makes the next record read the window from the database again.
//! So every record sees what a read at its start would have shown, or newer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use connect_jobs::mapping::anomaly::{History, OrderSummary};
use parking_lot::Mutex;

use crate::db::Db;
use crate::history::{self, WINDOW};
use crate::ids::TenantId;

/// Tenants whose windows are kept; the least recently used goes first.
pub const MAX_TENANTS: usize = 1024;

#[derive(Default)]
pub struct HistoryWindows {
    tenants: Mutex<Tenants>,
}

#[derive(Default)]
struct Tenants {
    windows: HashMap<TenantId, Window>,
    uses: u64,
}

impl Tenants {
    fn touch(&mut self, tenant_id: &TenantId) -> Option<&mut Window> {
        self.uses += 1;
        let now = self.uses;
        let window = self.windows.get_mut(tenant_id)?;
        window.used = now;
        Some(window)
    }

    /// The tenant's window, made (empty, not loaded) if absent.
    fn entry(&mut self, tenant_id: &TenantId) -> &mut Window {
        if self.windows.len() >= MAX_TENANTS
            && !self.windows.contains_key(tenant_id)
            && let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.used)
                .map(|(t, _)| t.clone())
        {
            self.windows.remove(&oldest);
        }
        self.uses += 1;
        let now = self.uses;
        let window = self.windows.entry(tenant_id.clone()).or_default();
        window.used = now;
        window
    }
}

#[derive(Default)]
struct Window {
    /// Read from the database at least once.
    loaded: bool,
    /// Every order up to this revision is in `recent`.
    revision: i64,
    /// Newest first, at most [`WINDOW`].
    recent: VecDeque<OrderSummary>,
    /// This process's orders whose revisions committed ahead of an earlier
    /// one still on its way.
    pending: BTreeMap<i64, OrderSummary>,
    /// `recent` built for the checks; `None` after a change.
    built: Option<Arc<History>>,
    used: u64,
}

impl Window {
    fn add(&mut self, summary: OrderSummary) {
        // A replayed order replaces its summary, as in the table.
        self.recent.retain(|s| s.source_id != summary.source_id);
        self.recent.push_front(summary);
        self.recent.truncate(WINDOW as usize);
        self.built = None;
    }

    fn history(&mut self) -> Arc<History> {
        self.built
            .get_or_insert_with(|| {
                Arc::new(History::new(
                    self.recent.iter().cloned(),
                    std::iter::empty(),
                ))
            })
            .clone()
    }
}

impl HistoryWindows {
    /// The tenant's window as of `revision` (read with the record's pair) or
    /// newer, without customers' currency counts.
    pub async fn window(
        &self,
        db: &Db,
        tenant_id: &TenantId,
        revision: i64,
    ) -> Result<Arc<History>, sqlx::Error> {
        if let Some(found) = self.cached(tenant_id, revision) {
            return Ok(found);
        }
        let recent = history::recent_orders(db, tenant_id).await?;
        let mut tenants = self.tenants.lock();
        let window = tenants.entry(tenant_id);
        // Another record of the tenant may have loaded or added meanwhile.
        if !window.loaded || window.revision < revision {
            window.loaded = true;
            window.revision = revision;
            window.recent = recent.into();
            window.pending.retain(|r, _| *r > revision);
            window.built = None;
            apply_pending(window);
        }
        Ok(window.history())
    }

    fn cached(&self, tenant_id: &TenantId, revision: i64) -> Option<Arc<History>> {
        let mut tenants = self.tenants.lock();
        let window = tenants.touch(tenant_id)?;
        (window.loaded && window.revision >= revision).then(|| window.history())
    }

    /// This process recorded `summary` as the tenant's history `revision`
    /// (its transaction committed).
    pub fn recorded(&self, tenant_id: &TenantId, revision: i64, summary: OrderSummary) {
        let mut tenants = self.tenants.lock();
        let Some(window) = tenants.windows.get_mut(tenant_id) else {
            // Not loaded here: the next record reads it whole.
            return;
        };
        if window.loaded && revision > window.revision {
            window.pending.insert(revision, summary);
            apply_pending(window);
        }
    }
}

/// Adds pending orders while they follow on without a gap.
fn apply_pending(window: &mut Window) {
    while let Some(summary) = window.pending.remove(&(window.revision + 1)) {
        window.revision += 1;
        window.add(summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> TenantId {
        TenantId::parse("tnt_a").unwrap()
    }

    fn b() -> TenantId {
        TenantId::parse("tnt_b").unwrap()
    }

    fn order(id: &str) -> OrderSummary {
        OrderSummary {
            source_id: id.into(),
            customer_id: Some("CUS-1".into()),
            currency: Some("USD".into()),
            total: None,
            max_quantity: None,
            fingerprint: format!("fp-{id}"),
            placed_at: None,
        }
    }

    /// A window loaded from the database at `revision`, holding `ids`
    /// (newest first).
    fn loaded(revision: i64, ids: &[&str]) -> HistoryWindows {
        let windows = HistoryWindows::default();
        let mut tenants = windows.tenants.lock();
        let window = tenants.entry(&a());
        window.loaded = true;
        window.revision = revision;
        window.recent = ids.iter().map(|id| order(id)).collect();
        drop(tenants);
        windows
    }

    fn ids(windows: &HistoryWindows) -> Vec<String> {
        let tenants = windows.tenants.lock();
        tenants.windows[&a()]
            .recent
            .iter()
            .map(|s| s.source_id.clone())
            .collect()
    }

    #[test]
    fn own_orders_join_the_window_in_revision_order() {
        let windows = loaded(4, &["CO-1"]);
        // Revision 6 commits before 5: it waits for 5.
        windows.recorded(&a(), 6, order("CO-3"));
        assert!(windows.cached(&a(), 6).is_none(), "6 is not in yet");
        assert_eq!(ids(&windows), ["CO-1"]);
        windows.recorded(&a(), 5, order("CO-2"));
        assert_eq!(ids(&windows), ["CO-3", "CO-2", "CO-1"]);
        let history = windows.cached(&a(), 6).expect("current at 6");
        assert_eq!(history.orders(), 3);
        // Older revisions are served by the newer window.
        assert!(windows.cached(&a(), 2).is_some());
    }

    #[test]
    fn a_revision_made_elsewhere_sends_the_next_record_to_the_database() {
        let windows = loaded(4, &["CO-1"]);
        // Another process recorded revision 5; this one recorded 6.
        windows.recorded(&a(), 6, order("CO-3"));
        assert!(
            windows.cached(&a(), 6).is_none(),
            "the window misses revision 5 and must be read again"
        );
        assert!(windows.cached(&a(), 4).is_some());
    }

    #[test]
    fn a_replayed_order_replaces_its_summary_and_the_window_stays_bounded() {
        let windows = loaded(0, &[]);
        for i in 0..(WINDOW + 20) {
            windows.recorded(&a(), i + 1, order(&format!("CO-{i}")));
        }
        windows.recorded(&a(), WINDOW + 21, order("CO-30"));
        let held = ids(&windows);
        assert_eq!(held.len(), WINDOW as usize);
        assert_eq!(held[0], "CO-30");
        assert_eq!(held.iter().filter(|id| *id == "CO-30").count(), 1);
        assert_eq!(held[1], format!("CO-{}", WINDOW + 19));
    }

    #[test]
    fn a_tenant_never_loaded_here_is_not_guessed() {
        let windows = HistoryWindows::default();
        windows.recorded(&b(), 1, order("CO-1"));
        assert!(windows.cached(&b(), 0).is_none());
    }
}
