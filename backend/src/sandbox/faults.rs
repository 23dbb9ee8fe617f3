//! Injected faults for the simulators: errors, timeouts, latency and rate limits,
//! per sandbox pair and system. Settings live in `sandbox_faults` and are cached
//! here; every simulator asks [`FaultRegistry::before_call`] what to do with a call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::db::{Db, now_ms};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Calls per second before 429 with Retry-After; `None` means the service default.
    pub rate_limit_per_s: Option<u32>,
    /// Concurrent requests per company before the limit error (Intacct's default is 2).
    pub concurrency_limit: Option<u32>,
    /// How long a "timed out" response is held.
    pub hang_ms: u64,
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FaultSettingsError {
    #[error("{field} must be between 0 and 1")]
    Rate { field: &'static str },
    #[error("{field} must be at most {max}")]
    TooLarge { field: &'static str, max: u64 },
}

impl FaultSettingsError {
    pub fn field(&self) -> &'static str {
        match self {
            FaultSettingsError::Rate { field } | FaultSettingsError::TooLarge { field, .. } => {
                field
            }
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
        for (field, v, max) in [
            ("latency_ms", self.latency_ms, 60_000),
            ("jitter_ms", self.jitter_ms, 60_000),
            ("hang_ms", self.hang_ms, 120_000),
        ] {
            if v > max {
                return Err(FaultSettingsError::TooLarge { field, max });
            }
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
}

struct Bucket {
    window_start: Instant,
    count: u32,
}

#[derive(Default)]
pub struct FaultRegistry {
    cache: Mutex<HashMap<(String, SimSystem), FaultSettings>>,
    buckets: Mutex<HashMap<(String, SimSystem), Bucket>>,
    /// Calls each simulator has received per pair since this process started:
    /// what a tenant's metered API calls are checked against.
    received: Mutex<HashMap<(String, SimSystem), u64>>,
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
        if let Some(s) = self.cache.lock().expect("fault cache").get(&key) {
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
        self.cache
            .lock()
            .expect("fault cache")
            .insert(key, settings.clone());
        Ok(settings)
    }

    pub async fn set(
        &self,
        db: &Db,
        pair_id: &str,
        system: SimSystem,
        settings: FaultSettings,
    ) -> Result<(), sqlx::Error> {
        let json = serde_json::to_string(&settings).expect("fault settings serialize");
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
        self.cache
            .lock()
            .expect("fault cache")
            .insert((pair_id.to_owned(), system), settings);
        Ok(())
    }

    /// Applies latency, then decides the fate of one call. `default_rate_limit`
    /// is the service's own limit per second when the pair sets none.
    pub async fn before_call(
        &self,
        db: &Db,
        pair_id: &str,
        system: SimSystem,
        default_rate_limit: Option<u32>,
    ) -> FaultDecision {
        *self
            .received
            .lock()
            .expect("call counts")
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
        if let Some(limit) = settings.rate_limit_per_s.or(default_rate_limit)
            && !self.take_token(pair_id, system, limit)
        {
            return FaultDecision::RateLimited { retry_after_s: 1 };
        }
        let roll: f64 = rand::random();
        if roll < settings.error_rate {
            FaultDecision::Error
        } else if roll < settings.error_rate + settings.timeout_rate {
            FaultDecision::Timeout {
                hang: Duration::from_millis(settings.hang_ms),
            }
        } else {
            FaultDecision::Proceed
        }
    }

    /// How many calls the simulator of `system` has received for the pair.
    pub fn calls_received(&self, pair_id: &str, system: SimSystem) -> u64 {
        self.received
            .lock()
            .expect("call counts")
            .get(&(pair_id.to_owned(), system))
            .copied()
            .unwrap_or(0)
    }

    /// A fixed one-second window per (pair, system): simple and predictable,
    /// which is what a test of a client's 429 handling needs.
    fn take_token(&self, pair_id: &str, system: SimSystem, limit: u32) -> bool {
        let mut buckets = self.buckets.lock().expect("fault buckets");
        let now = Instant::now();
        let bucket = buckets
            .entry((pair_id.to_owned(), system))
            .or_insert(Bucket {
                window_start: now,
                count: 0,
            });
        if now.duration_since(bucket.window_start) >= Duration::from_secs(1) {
            bucket.window_start = now;
            bucket.count = 0;
        }
        if bucket.count >= limit {
            return false;
        }
        bucket.count += 1;
        true
    }
}
