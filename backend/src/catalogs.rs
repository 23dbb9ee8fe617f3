//! The cache of pairs' ERP catalogs and master data ([`PairData`]), owned
//! by the application state and filled by the worker's and the preview's
//! loaders (`crate::sync::inputs`). It sits below both, so the state can
//! hold it without depending on the worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_jobs::mapping::sku::SkuResolver;
use connect_jobs::mapping::validate::InMemoryReferences;
use parking_lot::Mutex;

/// How long a sandbox pair's catalog and master data are reused: the
/// simulator's tables are cheap to read, and tests change them.
pub const SANDBOX_TTL: Duration = Duration::from_secs(2);
/// How long a production pair's catalog is reused before the ERP is listed
/// again: new items appear within this time.
pub const PRODUCTION_TTL: Duration = Duration::from_secs(600);
/// Pairs whose catalogs are kept; the oldest goes first.
pub const MAX_PAIRS: usize = 256;
/// A pair's ERP catalog and master data.
#[derive(Clone)]
pub struct PairData {
    pub catalog: Option<Arc<SkuResolver>>,
    pub references: Arc<InMemoryReferences>,
    /// `sandbox_catalog`, `erp_catalog` or `none`.
    pub source: &'static str,
    /// The reference kinds checked; others are taken as existing.
    pub kinds: Vec<&'static str>,
}

impl PairData {
    pub fn none() -> Self {
        Self {
            catalog: None,
            references: Arc::new(InMemoryReferences::new()),
            source: "none",
            kinds: Vec::new(),
        }
    }
}

/// Pairs' catalogs and master data, kept for a while so that a burst of
/// orders lists them once. Owned by the application state, so a test's
/// server and its worker see one cache and two servers in one process don't.
#[derive(Default)]
pub struct CatalogCache {
    entries: Mutex<HashMap<String, (Instant, PairData)>>,
}

impl CatalogCache {
    pub(crate) fn get(&self, pair_id: &str, ttl: Duration) -> Option<PairData> {
        let cache = self.entries.lock();
        cache
            .get(pair_id)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, d)| d.clone())
    }

    pub(crate) fn remember(&self, pair_id: &str, data: &PairData) {
        let mut cache = self.entries.lock();
        if cache.len() >= MAX_PAIRS && !cache.contains_key(pair_id) {
            cache.retain(|_, (at, _)| at.elapsed() < PRODUCTION_TTL);
            if cache.len() >= MAX_PAIRS
                && let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(pair_id.to_owned(), (Instant::now(), data.clone()));
    }

    /// Forget a pair's catalog (its connection changed, or it was deleted).
    pub fn forget(&self, pair_id: &str) {
        self.entries.lock().remove(pair_id);
    }

    /// What a production preview can use without calling the ERP: the
    /// catalog the worker listed, if it still holds one.
    pub fn production_cached(&self, pair_id: &str) -> Option<PairData> {
        self.get(pair_id, PRODUCTION_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_cache_is_bounded_and_expires() {
        let cache = CatalogCache::default();
        for i in 0..MAX_PAIRS + 10 {
            cache.remember(&format!("test-pair-{i}"), &PairData::none());
        }
        assert!(cache.entries.lock().len() <= MAX_PAIRS);
        let newest = format!("test-pair-{}", MAX_PAIRS + 9);
        assert!(cache.get(&newest, PRODUCTION_TTL).is_some());
        assert!(cache.get(&newest, Duration::ZERO).is_none());
        cache.forget(&newest);
        assert!(cache.get(&newest, PRODUCTION_TTL).is_none());
    }
}
