//! Injected faults for the simulators: errors, timeouts, latency and rate limits,
//! per sandbox pair and system. Settings live in `sandbox_faults` and are cached
//! here; every simulator asks [`FaultRegistry::before_call`] what to do with a call.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use connect_store::{Db, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimSystem {
    Clarity,
    Intacct,
    Sagepro,
}

impl SimSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            SimSystem::Clarity => "clarity",
            SimSystem::Intacct => "intacct",
            SimSystem::Sagepro => "sagepro",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clarity" => Some(SimSystem::Clarity),
            "intacct" => Some(SimSystem::Intacct),
            "sagepro" => Some(SimSystem::Sagepro),
            _ => None,
        }
    }
}

/// Fault knobs of one simulator. The default is a well-behaved service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share of calls (0..=1) answered with the service's own 5xx-class error.
    pub error_rate: f64,
    /// Share of calls (0..=1) whose answer never comes in time: the simulator
    /// does the work, then holds the response for `hang_ms` (the hardest case
    /// for a client: the write happened, the client does not know).
    pub timeout_rate: f64,
    /// Added to every call.
    pub latency_ms: u64,
    /// Up to this much more, at random.
    pub jitter_ms: u64,
    /// Calls per second before 429 with Retry-After; `None` means the service
    /// default (Clarity 120 a minute, Sage Pro 60 a minute, Intacct none).
    pub rate_limit_per_s: Option<u32>,
    /// Concurrent requests before the service's limit error (Intacct's default
    /// is 2 per company; Sage Pro allows one write at a time per company).
    pub concurrency_limit: Option<u32>,
    /// How long a "timed out" response is held.
    pub hang_ms: u64,
    /// Faults for the next calls, in order, before any random ones: "the next
    /// 3 calls fail with record_locked". Entries are used up as calls arrive.
    pub script: Vec<ScriptedFault>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            timeout_rate: 0.0,
            latency_ms: 0,
            jitter_ms: 0,
            rate_limit_per_s: None,
            concurrency_limit: None,
            hang_ms: 15_000,
            script: Vec::new(),
        }
    }
}

/// `count` calls in a row fail with `fault`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    pub fault: FaultKind,
    pub count: u32,
}

/// Every error class a client must handle, each answered in the simulated
/// system's own shape (its status codes, error codes and bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500: an unexpected server error.
    ServerError,
    /// 503 with Retry-After (Intacct: 502 from the gateway).
    Unavailable,
    /// 524 (Intacct's gateway timeout; others answer 504).
    GatewayTimeout,
    /// The work is done, the answer is held for `hang_ms`.
    Timeout,
    /// The connection is dropped before a complete answer.
    Reset,
    /// 429 with Retry-After.
    RateLimited,
    /// The service's concurrency limit error.
    ConcurrencyLimit,
    /// Intacct: the session is no longer valid; Clarity: the token expired.
    SessionExpired,
    /// Sage Pro: 409 RECORD_LOCKED with Retry-After.
    RecordLocked,
    /// 401: credentials refused.
    Unauthorized,
    /// A validation failure naming a field.
    Validation,
    /// 404: the record does not exist.
    NotFound,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::GatewayTimeout,
        FaultKind::Timeout,
        FaultKind::Reset,
        FaultKind::RateLimited,
        FaultKind::ConcurrencyLimit,
        FaultKind::SessionExpired,
        FaultKind::RecordLocked,
        FaultKind::Unauthorized,
        FaultKind::Validation,
        FaultKind::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ServerError => "server_error",
            FaultKind::Unavailable => "unavailable",
            FaultKind::GatewayTimeout => "gateway_timeout",
            FaultKind::Timeout => "timeout",
            FaultKind::Reset => "reset",
            FaultKind::RateLimited => "rate_limited",
            FaultKind::ConcurrencyLimit => "concurrency_limit",
            FaultKind::SessionExpired => "session_expired",
            FaultKind::RecordLocked => "record_locked",
            FaultKind::Unauthorized => "unauthorized",
            FaultKind::Validation => "validation",
            FaultKind::NotFound => "not_found",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The most scripted calls one setting may hold; a script is for tests, not load.
pub const MAX_SCRIPTED_CALLS: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum FaultSettingsError {
    #[error("{field} must be between 0 and 1")]
    Rate { field: &'static str },
    #[error("{field} must be at most {max}")]
    TooLarge { field: &'static str, max: u64 },
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
}

impl FaultSettingsError {
    pub fn field(&self) -> &'static str {
        match self {
            FaultSettingsError::Rate { field }
            | FaultSettingsError::TooLarge { field, .. }
            | FaultSettingsError::Zero { field } => field,
        }
    }
}

impl FaultSettings {
    pub fn validate(&self) -> Result<(), FaultSettingsError> {
        for (field, v) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FaultSettingsError::Rate { field });
            }
        }
        if self.error_rate + self.timeout_rate > 1.0 {
            return Err(FaultSettingsError::Rate {
                field: "timeout_rate",
            });
        }
        for (field, v, max) in [
            ("latency_ms", self.latency_ms, 60_000),
            ("jitter_ms", self.jitter_ms, 60_000),
            ("hang_ms", self.hang_ms, 120_000),
            (
                "rate_limit_per_s",
                self.rate_limit_per_s.unwrap_or(1).into(),
                100_000,
            ),
            (
                "concurrency_limit",
                self.concurrency_limit.unwrap_or(1).into(),
                1_000,
            ),
        ] {
            if v > max {
                return Err(FaultSettingsError::TooLarge { field, max });
            }
        }
        for (field, v) in [
            ("rate_limit_per_s", self.rate_limit_per_s),
            ("concurrency_limit", self.concurrency_limit),
        ] {
            if v == Some(0) {
                return Err(FaultSettingsError::Zero { field });
            }
        }
        if self.script.iter().any(|s| s.count == 0) {
            return Err(FaultSettingsError::Zero {
                field: "script.count",
            });
        }
        let total: u64 = self.script.iter().map(|s| u64::from(s.count)).sum();
        if total > u64::from(MAX_SCRIPTED_CALLS) {
            return Err(FaultSettingsError::TooLarge {
                field: "script.count",
                max: MAX_SCRIPTED_CALLS.into(),
            });
        }
        Ok(())
    }
}

/// What the simulator should do with the call in hand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultDecision {
    Proceed,
    /// Answer with a server error (the system's own shape of it).
    Error,
    /// Do the work, then hold the answer this long (longer than clients wait).
    Timeout {
        hang: Duration,
    },
    /// Answer 429 (or the system's limit error) with this Retry-After.
    RateLimited {
        retry_after_s: u64,
    },
    /// A fault from the pair's script, to be answered in the system's shape.
    /// `hang` is the setting's `hang_ms`, for [`FaultKind::Timeout`].
    Scripted {
        kind: FaultKind,
        hang: Duration,
    },
}

/// A service's own rate limit: `limit` requests per `window`, as a token
/// bucket (bursts up to `limit`, refilled evenly over the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn per_minute(limit: u32) -> Self {
        RateLimit {
            limit,
            window: Duration::from_secs(60),
        }
    }

    pub const fn per_second(limit: u32) -> Self {
        RateLimit {
            limit,
            window: Duration::from_secs(1),
        }
    }

    fn refill_per_s(&self) -> f64 {
        f64::from(self.limit) / self.window.as_secs_f64()
    }
}

/// Where a caller stands against the rate limit after this call, for the
/// `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
}

/// The verdict on one call and, where the service limits rates, the quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallFate {
    pub decision: FaultDecision,
    pub quota: Option<Quota>,
}

struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.limit),
            refilled: now,
        }
    }

    /// Takes one token; `Err(seconds until one is available)` when empty.
    fn take(&mut self, now: Instant) -> Result<Quota, u64> {
        let rate = self.limit.refill_per_s();
        let capacity = f64::from(self.limit.limit);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(capacity);
        self.refilled = now;
        if self.tokens < 1.0 {
            return Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64);
        }
        self.tokens -= 1.0;
        Ok(Quota {
            limit: self.limit.limit,
            remaining: self.tokens.floor() as u32,
            reset_s: ((capacity - self.tokens) / rate).ceil() as u64,
        })
    }
}

type Key = (String, SimSystem);

#[derive(Default)]
pub struct FaultRegistry {
    cache: Mutex<HashMap<Key, FaultSettings>>,
    buckets: Mutex<HashMap<Key, Bucket>>,
    /// Calls each simulator has received per pair since this process started:
    /// what a tenant's metered API calls are checked against.
    received: Mutex<HashMap<Key, u64>>,
    /// Requests being served now, and the most at once, per pair and system:
    /// how a test sees whether clients kept to a concurrency limit.
    in_flight: Mutex<HashMap<Key, (u32, u32)>>,
    /// Requests admitted under a set `concurrency_limit`, per pair and system.
    slots: Mutex<HashMap<Key, u32>>,
}

/// One admitted request under a concurrency limit; freed when dropped.
pub struct Slot {
    registry: std::sync::Arc<FaultRegistry>,
    key: Key,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.registry.slots.lock();
        if let Some(n) = slots.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.remove(&self.key);
            }
        }
    }
}

/// One request being served; counted out when dropped.
pub struct InFlight {
    registry: std::sync::Arc<FaultRegistry>,
    key: Key,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(slot) = self.registry.in_flight.lock().get_mut(&self.key) {
            slot.0 = slot.0.saturating_sub(1);
        }
    }
}

impl FaultRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn get(
        &self,
        db: &Db,
        pair_id: &str,
        system: SimSystem,
    ) -> Result<FaultSettings, sqlx::Error> {
        let key = (pair_id.to_owned(), system);
        if let Some(s) = self.cache.lock().get(&key) {
            return Ok(s.clone());
        }
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT settings FROM sandbox_faults WHERE pair_id = $1 AND system = $2",
        )
        .bind(pair_id)
        .bind(system.as_str())
        .fetch_optional(db.pool())
        .await?;
        let settings: FaultSettings = row
            .and_then(|(json,)| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        self.cache.lock().insert(key, settings.clone());
        Ok(settings)
    }

    pub async fn set(
        &self,
        db: &Db,
        pair_id: &str,
        system: SimSystem,
        settings: FaultSettings,
    ) -> Result<(), sqlx::Error> {
        persist(db, pair_id, system, &settings).await?;
        let key = (pair_id.to_owned(), system);
        // A new limit starts with a full bucket.
        self.buckets.lock().remove(&key);
        self.cache.lock().insert(key, settings);
        Ok(())
    }

    /// Applies latency, then decides the fate of one call. `default_limit` is
    /// the service's own rate limit, used when the pair sets none.
    pub async fn before_call(
        &self,
        db: &Db,
        pair_id: &str,
        system: SimSystem,
        default_limit: Option<RateLimit>,
    ) -> CallFate {
        *self
            .received
            .lock()
            .entry((pair_id.to_owned(), system))
            .or_default() += 1;
        let settings = match self.get(db, pair_id, system).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "fault settings unreadable; proceeding without faults");
                FaultSettings::default()
            }
        };
        let delay = settings.latency_ms
            + if settings.jitter_ms > 0 {
                rand::random_range(0..=settings.jitter_ms)
            } else {
                0
            };
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let hang = Duration::from_millis(settings.hang_ms);
        if !settings.script.is_empty()
            && let Some(kind) = self.next_scripted(db, pair_id, system).await
        {
            return CallFate {
                decision: FaultDecision::Scripted { kind, hang },
                quota: None,
            };
        }
        let limit = settings
            .rate_limit_per_s
            .map(RateLimit::per_second)
            .or(default_limit);
        let quota = match limit {
            None => None,
            Some(limit) => match self.take_token(pair_id, system, limit) {
                Ok(q) => Some(q),
                Err(retry_after_s) => {
                    return CallFate {
                        decision: FaultDecision::RateLimited { retry_after_s },
                        quota: Some(Quota {
                            limit: limit.limit,
                            remaining: 0,
                            reset_s: retry_after_s,
                        }),
                    };
                }
            },
        };
        let roll: f64 = rand::random();
        let decision = if roll < settings.error_rate {
            FaultDecision::Error
        } else if roll < settings.error_rate + settings.timeout_rate {
            FaultDecision::Timeout { hang }
        } else {
            FaultDecision::Proceed
        };
        CallFate { decision, quota }
    }

    /// Uses up one call of the script, if any is left; the rest is saved so
    /// a restart does not replay faults already delivered.
    async fn next_scripted(&self, db: &Db, pair_id: &str, system: SimSystem) -> Option<FaultKind> {
        let (kind, remaining) = {
            let mut cache = self.cache.lock();
            let settings = cache.get_mut(&(pair_id.to_owned(), system))?;
            let first = settings.script.first_mut()?;
            let kind = first.fault;
            first.count -= 1;
            if first.count == 0 {
                settings.script.remove(0);
            }
            (kind, settings.clone())
        };
        if let Err(e) = persist(db, pair_id, system, &remaining).await {
            tracing::warn!(error = %e, "could not save the fault script's progress");
        }
        Some(kind)
    }

    /// Counts a request in until the guard is dropped.
    pub fn enter(self: &std::sync::Arc<Self>, pair_id: &str, system: SimSystem) -> InFlight {
        let key = (pair_id.to_owned(), system);
        {
            let mut map = self.in_flight.lock();
            let slot = map.entry(key.clone()).or_default();
            slot.0 += 1;
            slot.1 = slot.1.max(slot.0);
        }
        InFlight {
            registry: self.clone(),
            key,
        }
    }

    /// A slot under the pair's `concurrency_limit`, or `None` when `limit`
    /// requests are already admitted. Checked and taken in one step, so
    /// simultaneous requests cannot all see room, nor all see none.
    pub fn try_slot(
        self: &std::sync::Arc<Self>,
        pair_id: &str,
        system: SimSystem,
        limit: u32,
    ) -> Option<Slot> {
        let key = (pair_id.to_owned(), system);
        let mut slots = self.slots.lock();
        let n = slots.entry(key.clone()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            registry: self.clone(),
            key,
        })
    }

    /// The most requests the simulator served at once for the pair.
    pub fn peak_in_flight(&self, pair_id: &str, system: SimSystem) -> u32 {
        self.in_flight
            .lock()
            .get(&(pair_id.to_owned(), system))
            .map_or(0, |s| s.1)
    }

    /// How many calls the simulator of `system` has received for the pair.
    pub fn calls_received(&self, pair_id: &str, system: SimSystem) -> u64 {
        self.received
            .lock()
            .get(&(pair_id.to_owned(), system))
            .copied()
            .unwrap_or(0)
    }

    fn take_token(&self, pair_id: &str, system: SimSystem, limit: RateLimit) -> Result<Quota, u64> {
        let mut buckets = self.buckets.lock();
        let now = Instant::now();
        let bucket = buckets
            .entry((pair_id.to_owned(), system))
            .or_insert_with(|| Bucket::new(limit, now));
        if bucket.limit != limit {
            *bucket = Bucket::new(limit, now);
        }
        bucket.take(now)
    }
}

async fn persist(
    db: &Db,
    pair_id: &str,
    system: SimSystem,
    settings: &FaultSettings,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(settings).expect("fault settings serialize");
    sqlx::query(
        "INSERT INTO sandbox_faults (pair_id, system, settings, updated_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (pair_id, system) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )
    .bind(pair_id)
    .bind(system.as_str())
    .bind(json)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Adds the `X-RateLimit-*` headers a rate-limited service sends.
pub fn quota_headers(headers: &mut axum::http::HeaderMap, quota: Option<Quota>) {
    let Some(q) = quota else { return };
    for (name, value) in [
        ("x-ratelimit-limit", q.limit.to_string()),
        ("x-ratelimit-remaining", q.remaining.to_string()),
        ("x-ratelimit-reset", q.reset_s.to_string()),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// A response body that fails after the headers are sent: the client sees
/// its connection cut mid-answer, as when a proxy or the service restarts.
pub fn reset_response() -> axum::response::Response {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset (injected fault)",
        ))
    });
    axum::response::Response::builder()
        .status(200)
        .body(axum::body::Body::from_stream(stream))
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_refills_evenly() {
        let t0 = Instant::now();
        let mut b = Bucket::new(RateLimit::per_minute(120), t0);
        for i in 0..120 {
            let q = b.take(t0).expect("within the burst");
            assert_eq!(q.remaining, 119 - i);
        }
        // Empty: 2 tokens a second come back, so one is due in 1 s (rounded up).
        assert_eq!(b.take(t0), Err(1));
        let q = b.take(t0 + Duration::from_millis(600)).expect("refilled");
        assert_eq!(q.limit, 120);
        assert_eq!(q.remaining, 0);
    }

    #[test]
    fn scripts_are_validated() {
        let mut s = FaultSettings {
            script: vec![ScriptedFault {
                fault: FaultKind::RecordLocked,
                count: 0,
            }],
            ..FaultSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field(), "script.count");
        s.script[0].count = MAX_SCRIPTED_CALLS + 1;
        assert_eq!(s.validate().unwrap_err().field(), "script.count");
        s.script[0].count = 3;
        assert!(s.validate().is_ok());
        let parsed: FaultSettings =
            serde_json::from_str(r#"{"script":[{"fault":"session_expired","count":2}]}"#).unwrap();
        assert_eq!(parsed.script[0].fault, FaultKind::SessionExpired);
    }

    #[test]
    fn error_and_timeout_rates_cannot_exceed_one_together() {
        let s = FaultSettings {
            error_rate: 0.7,
            timeout_rate: 0.5,
            ..FaultSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field(), "timeout_rate");
    }
}
