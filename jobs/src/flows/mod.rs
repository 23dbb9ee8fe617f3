//! The sync pipelines. A flow turns one source event into writes on the target,
//! exactly once: it asks the ledger first, writes with a deterministic
//! idempotency key, and records the target id in the ledger after.

pub mod ledger;
pub mod orders;

use crate::connectors::intacct::IntacctClient;
use crate::connectors::sagepro::SageProClient;
use crate::connectors::{ConnectorError, ErrorClass};
use crate::mapping::MappingError;

/// The ERP side of a pair.
#[derive(Clone)]
pub enum ErpTarget {
    Intacct(IntacctClient),
    Sagepro(SageProClient),
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("mapping {target}: {message}")]
    Mapping { target: String, message: String },
    /// The event itself is unusable (no order id, …): retrying cannot help.
    #[error("event: {0}")]
    Event(String),
    /// Our own storage failed; the work is intact and will be retried.
    #[error("storage: {0}")]
    Store(#[from] anyhow::Error),
}

impl From<MappingError> for FlowError {
    fn from(e: MappingError) -> Self {
        FlowError::Mapping {
            target: e.target,
            message: e.message,
        }
    }
}

impl FlowError {
    pub fn class(&self) -> ErrorClass {
        match self {
            FlowError::Connector(e) => e.class(),
            FlowError::Mapping { .. } | FlowError::Event(_) => ErrorClass::Permanent,
            FlowError::Store(_) => ErrorClass::Transient { retry_after: None },
        }
    }

    /// The field a permanent failure is about, for the dead letter.
    pub fn field(&self) -> Option<String> {
        match self {
            FlowError::Connector(e) => e.field().map(str::to_owned),
            FlowError::Mapping { target, .. } => Some(target.clone()),
            FlowError::Event(_) | FlowError::Store(_) => None,
        }
    }
}
