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

/// Whether an error may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry later; `retry_after` is the peer's own hint when it gave one.
    Transient { retry_after: Option<Duration> },
    /// Retrying the same input cannot succeed: park it for a human.
    Permanent,
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

#[derive(Debug, thiserror::Error)]
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
}

impl ConnectorError {
    pub fn class(&self) -> ErrorClass {
        use ConnectorError::*;
        match self {
            Timeout { .. } | Connect { .. } | Server { .. } | SessionExpired { .. } => {
                ErrorClass::Transient { retry_after: None }
            }
            RateLimited { retry_after, .. }
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
            | ConcurrencyLimit { system, .. }
            | SessionExpired { system }
            | RecordLocked { system, .. }
            | Validation { system, .. }
            | Auth { system, .. }
            | NotFound { system, .. }
            | Protocol { system, .. }
            | Refused { system, .. } => *system,
        }
    }
}

/// Counts outbound calls for metering. The control plane implements it; the
/// connectors call it once per HTTP request they send, whatever the outcome.
/// It cannot fail: a meter that cannot record logs and carries on.
#[async_trait::async_trait]
pub trait CallMeter: Send + Sync {
    async fn outbound_call(&self, system: System);
}

/// A meter that counts nothing, for tools and tests that do not bill.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMeter;

#[async_trait::async_trait]
impl CallMeter for NoMeter {
    async fn outbound_call(&self, _system: System) {}
}

/// Parses a `Retry-After` header given in seconds (the only form our peers send).
pub fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}
