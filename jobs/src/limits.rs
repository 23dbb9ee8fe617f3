//! Outbound rate and concurrency limits per (tenant, target system).
//!
//! Each target tolerates only so much from one customer: Sage Intacct about
//! two concurrent requests per company, Sage Pro 60 requests a minute and one
//! write at a time, Clarity 120 requests a minute. Finding that out by getting
//! 429s wastes calls (which are metered) and retries; so every outbound call is
//! admitted here first. Rates are spaced evenly (GCRA: each key keeps the time
//! its next call may start), concurrency is a set of leased slots.
//!
//! [`LocalLimiter`] holds within one process (the embedded default);
//! [`RedisLimiter`] holds across every worker process sharing a Redis, with
//! leases that expire so a crashed process cannot keep a slot.
//!
//! A call that would have to wait longer than the caller's `max_wait` is not
//! admitted and not reserved: the caller gets [`Admission::NotBefore`] and puts
//! its job back, so one tenant's backlog never parks a worker that another
//! tenant's work could use.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What one target tolerates from one tenant. `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub per_minute: Option<u32>,
    pub concurrent: Option<u32>,
}

impl Limits {
    /// The spacing between call starts that keeps to `per_minute`.
    fn interval(&self) -> Option<Duration> {
        self.per_minute
            .filter(|n| *n > 0)
            .map(|n| Duration::from_secs(60) / n)
    }
}

/// Held for the duration of one call; frees its concurrency slot when dropped.
#[must_use = "the slot is freed when the permit is dropped"]
pub struct CallPermit {
    _slot: Option<Box<dyn Send + Sync>>,
}

impl CallPermit {
    /// A permit that holds nothing (no concurrency limit).
    pub fn free() -> Self {
        CallPermit { _slot: None }
    }

    fn holding(slot: impl Send + Sync + 'static) -> Self {
        CallPermit {
            _slot: Some(Box::new(slot)),
        }
    }
}

impl std::fmt::Debug for CallPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallPermit")
    }
}

#[derive(Debug)]
pub enum Admission {
    Go(CallPermit),
    /// Not admitted; nothing was reserved. Try again after this long.
    NotBefore(Duration),
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(String);

#[async_trait::async_trait]
pub trait Limiter: Send + Sync {
    /// Admits one call under `key`, waiting up to `max_wait` for its turn.
    async fn admit(
        &self,
        key: &str,
        limits: Limits,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError>;

    /// Counts one hit of `key` in the current fixed window of length
    /// `window` (aligned to the clock, shared by every process using the
    /// same limiter): how many hits the window has now, and when it ends.
    /// For quotas answered with a count (`X-RateLimit-Remaining`), where
    /// even spacing would refuse a page's burst of requests.
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowCount, LimiterError>;
}

/// One fixed window's count so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    pub hits: u64,
    pub resets_in: Duration,
}

/// How often a caller waiting for a concurrency slot looks again.
const SLOT_POLL: Duration = Duration::from_millis(25);

// ---------------------------------------------------------------------------

/// Limits within this process.
#[derive(Default)]
pub struct LocalLimiter {
    keys: Mutex<HashMap<String, LocalKey>>,
    /// Fixed windows by key: the window's index and its hits.
    windows: Mutex<HashMap<String, (u64, u64)>>,
}

struct LocalKey {
    /// When the next call may start (GCRA's theoretical arrival time).
    next_start: Instant,
    slots: Arc<Semaphore>,
    concurrent: u32,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves a start time if it is within `max_wait`; returns how long to wait.
    fn reserve(&self, key: &str, limits: Limits, max_wait: Duration) -> Result<Duration, Duration> {
        let Some(interval) = limits.interval() else {
            return Ok(Duration::ZERO);
        };
        let now = Instant::now();
        let mut keys = self.keys.lock();
        let k = keys
            .entry(key.to_owned())
            .or_insert_with(|| LocalKey::new(now, limits));
        let start = k.next_start.max(now);
        let wait = start - now;
        if wait > max_wait {
            return Err(wait);
        }
        k.next_start = start + interval;
        Ok(wait)
    }

    fn slots(&self, key: &str, limits: Limits) -> Option<Arc<Semaphore>> {
        let n = limits.concurrent.filter(|n| *n > 0)?;
        let mut keys = self.keys.lock();
        let k = keys
            .entry(key.to_owned())
            .or_insert_with(|| LocalKey::new(Instant::now(), limits));
        if k.concurrent != n {
            // The limit was changed (a connection was edited): new slots from now on.
            k.slots = Arc::new(Semaphore::new(n as usize));
            k.concurrent = n;
        }
        Some(k.slots.clone())
    }
}

impl LocalKey {
    fn new(now: Instant, limits: Limits) -> Self {
        let n = limits.concurrent.unwrap_or(0);
        LocalKey {
            next_start: now,
            slots: Arc::new(Semaphore::new(n.max(1) as usize)),
            concurrent: n,
        }
    }
}

#[async_trait::async_trait]
impl Limiter for LocalLimiter {
    async fn admit(
        &self,
        key: &str,
        limits: Limits,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError> {
        let started = Instant::now();
        // The slot first: a reserved start time must not expire while we queue for a slot.
        let permit: Option<OwnedSemaphorePermit> = match self.slots(key, limits) {
            None => None,
            Some(slots) => match tokio::time::timeout(max_wait, slots.acquire_owned()).await {
                Ok(Ok(p)) => Some(p),
                Ok(Err(_)) | Err(_) => return Ok(Admission::NotBefore(SLOT_POLL * 4)),
            },
        };
        match self.reserve(key, limits, max_wait.saturating_sub(started.elapsed())) {
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                Ok(Admission::Go(match permit {
                    Some(p) => CallPermit::holding(p),
                    None => CallPermit::free(),
                }))
            }
            Err(wait) => Ok(Admission::NotBefore(wait)),
        }
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<WindowCount, LimiterError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let w = (window.as_millis() as u64).max(1);
        let index = now / w;
        let mut windows = self.windows.lock();
        let entry = windows.entry(key.to_owned()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 += 1;
        Ok(WindowCount {
            hits: entry.1,
            resets_in: Duration::from_millis((index + 1) * w - now),
        })
    }
}

// ---------------------------------------------------------------------------

/// Limits shared by every process using the same Redis (and namespace).
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    namespace: String,
    /// A slot whose holder vanished is reclaimed after this long; longer than
    /// any call's total timeout.
    lease: Duration,
}

/// GCRA reservation. KEYS[1] the key's next start (ms). ARGV: interval ms,
/// max wait ms. Returns the wait in ms (>= 0, reserved) or -(wait+1) when the
/// wait is too long (nothing reserved). Redis' own clock, so processes agree.
const RESERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local start = tonumber(redis.call('GET', KEYS[1]) or now)
if start < now then start = now end
local wait = start - now
if wait > tonumber(ARGV[2]) then return -(wait + 1) end
redis.call('SET', KEYS[1], start + interval, 'PX', wait + interval + 1000)
return wait
"#;

/// Concurrency slot. KEYS[1] a sorted set of holders scored by lease end.
/// ARGV: limit, holder id, lease ms. Returns 1 when the slot is taken.
const TAKE_SLOT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"#;

/// Fixed-window hit. KEYS[1] the key's prefix; ARGV[1] the window in ms.
/// Returns {hits, ms until the window ends}, on Redis' clock.
const HIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local idx = math.floor(now / w)
local k = KEYS[1] .. ':' .. idx
local n = redis.call('INCR', k)
if n == 1 then redis.call('PEXPIRE', k, w + 1000) end
return {n, (idx + 1) * w - now}
"#;

impl RedisLimiter {
    pub async fn connect(
        url: &str,
        namespace: &str,
        lease: Duration,
    ) -> Result<Self, LimiterError> {
        let client = redis::Client::open(url).map_err(|e| LimiterError(e.to_string()))?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(RedisLimiter {
            conn,
            namespace: namespace.to_owned(),
            lease,
        })
    }

    fn redis_key(&self, kind: &str, key: &str) -> String {
        format!("{}:limits:{kind}:{key}", self.namespace)
    }

    async fn take_slot(
        &self,
        key: &str,
        n: u32,
        max_wait: Duration,
    ) -> Result<Option<RedisSlot>, LimiterError> {
        let set = self.redis_key("slots", key);
        let holder = uuid::Uuid::now_v7().simple().to_string();
        let script = redis::Script::new(TAKE_SLOT);
        let started = Instant::now();
        loop {
            let mut conn = self.conn.clone();
            let taken: i64 = script
                .key(&set)
                .arg(n)
                .arg(&holder)
                .arg(self.lease.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| LimiterError(e.to_string()))?;
            if taken == 1 {
                return Ok(Some(RedisSlot {
                    conn: self.conn.clone(),
                    set,
                    holder,
                }));
            }
            if started.elapsed() + SLOT_POLL > max_wait {
                return Ok(None);
            }
            // Jitter so waiting processes do not poll in lockstep.
            let jitter = Duration::from_millis(rand::random_range(0..=10));
            tokio::time::sleep(SLOT_POLL + jitter).await;
        }
    }
}

/// A Redis concurrency slot; released on drop. Should the release not run (the
/// process dies), the lease expires instead.
struct RedisSlot {
    conn: redis::aio::ConnectionManager,
    set: String,
    holder: String,
}

impl Drop for RedisSlot {
    fn drop(&mut self) {
        let (mut conn, set, holder) = (self.conn.clone(), self.set.clone(), self.holder.clone());
        // Drop cannot await; the release is one short command and its failure
        // only delays the slot until its lease ends.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _: Result<i64, _> = redis::cmd("ZREM")
                    .arg(&set)
                    .arg(&holder)
                    .query_async(&mut conn)
                    .await;
            });
        }
    }
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn admit(
        &self,
        key: &str,
        limits: Limits,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError> {
        let started = Instant::now();
        let slot = match limits.concurrent.filter(|n| *n > 0) {
            None => None,
            Some(n) => match self.take_slot(key, n, max_wait).await? {
                Some(s) => Some(s),
                None => return Ok(Admission::NotBefore(SLOT_POLL * 4)),
            },
        };
        let Some(interval) = limits.interval() else {
            return Ok(Admission::Go(
                slot.map_or_else(CallPermit::free, CallPermit::holding),
            ));
        };
        let left = max_wait.saturating_sub(started.elapsed());
        let mut conn = self.conn.clone();
        let wait: i64 = redis::Script::new(RESERVE)
            .key(self.redis_key("next", key))
            .arg(interval.as_millis() as u64)
            .arg(left.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        if wait < 0 {
            return Ok(Admission::NotBefore(Duration::from_millis(
                (-wait - 1) as u64,
            )));
        }
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        Ok(Admission::Go(
            slot.map_or_else(CallPermit::free, CallPermit::holding),
        ))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<WindowCount, LimiterError> {
        let mut conn = self.conn.clone();
        let (hits, left): (u64, i64) = redis::Script::new(HIT)
            .key(self.redis_key("window", key))
            .arg((window.as_millis() as u64).max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(WindowCount {
            hits,
            resets_in: Duration::from_millis(left.max(0) as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(a: Admission) -> CallPermit {
        match a {
            Admission::Go(p) => p,
            Admission::NotBefore(d) => panic!("not admitted: wait {d:?}"),
        }
    }

    #[tokio::test]
    async fn hits_count_up_within_a_window_and_per_key() {
        let l = LocalLimiter::new();
        let hour = Duration::from_secs(3600);
        for n in 1..=3 {
            let w = l.hit("a", hour).await.unwrap();
            assert_eq!(w.hits, n);
            assert!(w.resets_in <= hour);
        }
        assert_eq!(l.hit("b", hour).await.unwrap().hits, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_to_the_rate() {
        let l = LocalLimiter::new();
        let limits = Limits {
            per_minute: Some(120),
            concurrent: None,
        };
        let t0 = tokio::time::Instant::now();
        for _ in 0..5 {
            drop(go(l
                .admit("t:sagepro", limits, Duration::from_secs(10))
                .await
                .unwrap()));
        }
        // Five starts, 500 ms apart: the last at 2 s.
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_is_refused_and_reserves_nothing() {
        let l = LocalLimiter::new();
        let limits = Limits {
            per_minute: Some(60),
            concurrent: None,
        };
        let _ = go(l.admit("k", limits, Duration::ZERO).await.unwrap());
        match l
            .admit("k", limits, Duration::from_millis(100))
            .await
            .unwrap()
        {
            Admission::NotBefore(d) => assert_eq!(d, Duration::from_secs(1)),
            Admission::Go(_) => panic!("admitted too early"),
        }
        // The refusal did not push the next start further out.
        match l
            .admit("k", limits, Duration::from_millis(100))
            .await
            .unwrap()
        {
            Admission::NotBefore(d) => assert_eq!(d, Duration::from_secs(1)),
            Admission::Go(_) => panic!("admitted too early"),
        }
        // Other keys (tenants, systems) are not affected.
        let _ = go(l.admit("other", limits, Duration::ZERO).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_slots_are_freed_when_the_permit_drops() {
        let l = Arc::new(LocalLimiter::new());
        let limits = Limits {
            per_minute: None,
            concurrent: Some(2),
        };
        let a = go(l.admit("k", limits, Duration::ZERO).await.unwrap());
        let _b = go(l.admit("k", limits, Duration::ZERO).await.unwrap());
        assert!(matches!(
            l.admit("k", limits, Duration::from_millis(50))
                .await
                .unwrap(),
            Admission::NotBefore(_)
        ));
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move { l.admit("k", limits, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a);
        assert!(matches!(waiter.await.unwrap().unwrap(), Admission::Go(_)));
    }
}
