//! Clients for the other Intacct entities or Sage Pro companies a pair's
//! orders are routed to (`_route.entity`, `_route.company`): one per target,
//! kept with the pair's own clients, so a routed entity reuses its session or
//! token across orders the way the pair's own connection does. They live and
//! die with the pair's clients: a changed connection builds a new set.

use parking_lot::Mutex;
use std::collections::HashMap;

/// Routed targets kept per pair. A pair routes to a handful of entities; the
/// bound keeps a template that routes every order somewhere new from growing
/// memory, at the cost of signing in again for targets used least lately.
pub const MAX_ROUTES: usize = 64;

type Build<T> = Box<dyn Fn(&str) -> T + Send + Sync>;

pub struct RoutedClients<T> {
    build: Build<T>,
    routes: Mutex<Routes<T>>,
}

struct Routes<T> {
    /// Target → (when it was last used, its client).
    clients: HashMap<String, (u64, T)>,
    uses: u64,
}

impl<T: Clone> RoutedClients<T> {
    /// `build` makes the client for one target from the pair's connection.
    pub fn new(build: impl Fn(&str) -> T + Send + Sync + 'static) -> Self {
        Self {
            build: Box::new(build),
            routes: Mutex::new(Routes {
                clients: HashMap::new(),
                uses: 0,
            }),
        }
    }

    /// The client for `to`, built on its first use. Building happens under
    /// the lock so that two orders routed at once to a new target share one
    /// client (and one sign-in); it is cheap, no call is made.
    pub fn get(&self, to: &str) -> T {
        let mut routes = self.routes.lock();
        routes.uses += 1;
        let now = routes.uses;
        if let Some((used, client)) = routes.clients.get_mut(to) {
            *used = now;
            return client.clone();
        }
        if routes.clients.len() >= MAX_ROUTES
            && let Some(oldest) = routes
                .clients
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(target, _)| target.clone())
        {
            routes.clients.remove(&oldest);
        }
        let client = (self.build)(to);
        routes.clients.insert(to.to_owned(), (now, client.clone()));
        client
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.routes.lock().clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Clients that say which build made them.
    fn counting() -> (RoutedClients<(String, usize)>, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = builds.clone();
        let routed = RoutedClients::new(move |to: &str| {
            (to.to_owned(), counter.fetch_add(1, Ordering::SeqCst) + 1)
        });
        (routed, builds)
    }

    #[test]
    fn orders_routed_to_the_same_entity_share_one_client() {
        let (routed, builds) = counting();
        let first = routed.get("E100");
        let second = routed.get("E100");
        assert_eq!(first, second);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        let other = routed.get("E200");
        assert_eq!(other, ("E200".to_owned(), 2));
        assert_eq!(routed.get("E100"), first);
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let (routed, builds) = counting();
        routed.get("kept");
        for i in 0..MAX_ROUTES + 10 {
            routed.get(&format!("E{i}"));
            // Used all along, so never the oldest.
            routed.get("kept");
        }
        assert_eq!(routed.len(), MAX_ROUTES);
        assert_eq!(routed.get("kept").1, 1, "built once");
        let before = builds.load(Ordering::SeqCst);
        routed.get("E0");
        assert_eq!(
            builds.load(Ordering::SeqCst),
            before + 1,
            "an evicted target is built again"
        );
    }
}
