//! Clients for the systems a pair connects: Clarity, Sage Intacct and Sage Pro.
//!
//! Every connector reports failures as a [`ConnectorError`], and every error has
//! one [`ErrorClass`]: the flows decide between retrying and dead-lettering from
//! that class alone, so the classification lives here, next to the protocols.

pub mod clarity;
pub mod http;
pub mod intacct;
pub mod sagepro;

use std::time::Duration;

pub use crate::limits::CallPermit;

/// Whether an error may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry later; `retry_after` is the peer's own hint when it gave one.
    Transient { retry_after: Option<Duration> },
    /// Retrying the same input cannot succeed: park it for a human.
    Permanent,
    /// Nothing was tried: come back after `wait`, without spending an attempt.
    Deferred { wait: Duration },
}

/// Which external system an error or a call concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Clarity,
    Intacct,
    Sagepro,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Clarity => "clarity",
            System::Intacct => "intacct",
            System::Sagepro => "sagepro",
        }
    }
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Clone: one failed request is the outcome of every write it carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    #[error("{system}: timed out after {after:?}")]
    Timeout { system: System, after: Duration },
    #[error("{system}: connection failed: {message}")]
    Connect { system: System, message: String },
    #[error("{system}: server error {status}: {message}")]
    Server {
        system: System,
        status: u16,
        message: String,
    },
    /// The peer is up but cannot serve now (e.g. Sage Pro's agent during a
    /// reindex: 503 with Retry-After).
    #[error("{system}: unavailable ({status}): {message}")]
    Unavailable {
        system: System,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{system}: rate limited")]
    RateLimited {
        system: System,
        retry_after: Option<Duration>,
    },
    #[error("{system}: concurrency limit reached")]
    ConcurrencyLimit {
        system: System,
        retry_after: Option<Duration>,
    },
    #[error("{system}: session expired")]
    SessionExpired { system: System },
    #[error("{system}: record locked: {message}")]
    RecordLocked {
        system: System,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{system}: {message}")]
    Validation {
        system: System,
        /// The target's own field name, when it said which one.
        field: Option<String>,
        message: String,
    },
    #[error("{system}: authentication failed: {message}")]
    Auth { system: System, message: String },
    #[error("{system}: not found: {message}")]
    NotFound { system: System, message: String },
    #[error("{system}: unexpected response: {message}")]
    Protocol { system: System, message: String },
    #[error("{system}: refused: {message}")]
    Refused { system: System, message: String },
    /// Our own limiter for the tenant on this system said "not yet": no call
    /// was made, so this is not a failed attempt.
    #[error("{system}: waiting for the tenant's rate limit ({wait:?})")]
    Throttled { system: System, wait: Duration },
}

impl ConnectorError {
    pub fn class(&self) -> ErrorClass {
        use ConnectorError::*;
        match self {
            Timeout { .. } | Connect { .. } | Server { .. } | SessionExpired { .. } => {
                ErrorClass::Transient { retry_after: None }
            }
            RateLimited { retry_after, .. }
            | Unavailable { retry_after, .. }
            | ConcurrencyLimit { retry_after, .. }
            | RecordLocked { retry_after, .. } => ErrorClass::Transient {
                retry_after: *retry_after,
            },
            // A garbled answer is most often a proxy or a half-written response:
            // worth another try, bounded by the retry budget.
            Protocol { .. } => ErrorClass::Transient { retry_after: None },
            Validation { .. } | Auth { .. } | NotFound { .. } | Refused { .. } => {
                ErrorClass::Permanent
            }
            Throttled { wait, .. } => ErrorClass::Deferred { wait: *wait },
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self.class(), ErrorClass::Transient { .. })
    }

    /// The target field a permanent error names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConnectorError::Validation { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    pub fn system(&self) -> System {
        use ConnectorError::*;
        match self {
            Timeout { system, .. }
            | Connect { system, .. }
            | Server { system, .. }
            | RateLimited { system, .. }
            | Unavailable { system, .. }
            | ConcurrencyLimit { system, .. }
            | SessionExpired { system }
            | RecordLocked { system, .. }
            | Validation { system, .. }
            | Auth { system, .. }
            | NotFound { system, .. }
            | Protocol { system, .. }
            | Refused { system, .. }
            | Throttled { system, .. } => *system,
        }
    }
}

/// Admits and counts outbound calls. The control plane implements it (the
/// tenant's limits on the system, then metering); the connectors call it right
/// before each HTTP request and hold the permit until the answer is read. A
/// call that may not go now fails with [`ConnectorError::Throttled`] and is not
/// counted.
#[async_trait::async_trait]
pub trait CallGate: Send + Sync {
    async fn admit(&self, system: System) -> Result<CallPermit, ConnectorError>;
}

/// A gate that admits everything and counts nothing, for tools and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenGate;

#[async_trait::async_trait]
impl CallGate for OpenGate {
    async fn admit(&self, _system: System) -> Result<CallPermit, ConnectorError> {
        Ok(CallPermit::free())
    }
}

/// A gate that admits everything and counts the calls: for tools and tests
/// that check how many requests a connector made.
#[derive(Debug, Default)]
pub struct CountingGate(std::sync::atomic::AtomicUsize);

impl CountingGate {
    pub fn calls(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl CallGate for CountingGate {
    async fn admit(&self, _system: System) -> Result<CallPermit, ConnectorError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(CallPermit::free())
    }
}

/// Parses a `Retry-After` header given in seconds (the only form our peers send).
pub fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}
