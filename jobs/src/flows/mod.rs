//! The sync pipelines. A flow turns one source event into writes on the target,
//! exactly once: it asks the ledger first, writes with a deterministic
//! idempotency key, and records the target id in the ledger after.

pub mod catalog;
pub mod ledger;
pub mod orders;

use crate::connectors::intacct::IntacctClient;
use crate::connectors::sagepro::SageProClient;
use crate::connectors::{ConnectorError, ErrorClass};
use crate::mapping::MappingError;
use crate::mapping::pipeline::Flag;
use crate::mapping::validate::ValidationIssue;

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
    /// The mapped record would be refused: every issue, each naming the
    /// field, the value, the rule and a correction. Retrying cannot help;
    /// fixing the template (or the tenant's data) and replaying can.
    #[error("{}", describe_issues(.issues))]
    Invalid {
        issues: Vec<ValidationIssue>,
        /// What was flagged on the way, recorded with the failure.
        flags: Vec<Flag>,
    },
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
            FlowError::Mapping { .. } | FlowError::Invalid { .. } | FlowError::Event(_) => {
                ErrorClass::Permanent
            }
            FlowError::Store(_) => ErrorClass::Transient { retry_after: None },
        }
    }

    /// The field a permanent failure is about, for the dead letter.
    pub fn field(&self) -> Option<String> {
        match self {
            FlowError::Connector(e) => e.field().map(str::to_owned),
            FlowError::Mapping { target, .. } => Some(target.clone()),
            FlowError::Invalid { issues, .. } => issues.first().map(|i| i.field.clone()),
            FlowError::Event(_) | FlowError::Store(_) => None,
        }
    }
}

/// One line for the run's error: how many issues, then the first few (the
/// dead letter's details hold them all).
fn describe_issues(issues: &[ValidationIssue]) -> String {
    const SHOWN: usize = 5;
    let mut text = match issues.len() {
        1 => "1 validation issue: ".to_owned(),
        n => format!("{n} validation issues: "),
    };
    for (i, issue) in issues.iter().take(SHOWN).enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&format!(
            "`{}` ({}): {}",
            issue.field, issue.rule, issue.message
        ));
    }
    if issues.len() > SHOWN {
        text.push_str(&format!("; and {} more", issues.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::validate::Rule;

    fn issue(field: &str) -> ValidationIssue {
        ValidationIssue {
            record: "CO-1".into(),
            field: field.into(),
            value: None,
            rule: Rule::Reference,
            message: format!("{field} is wrong"),
            suggestion: None,
        }
    }

    #[test]
    fn refused_records_are_permanent_and_name_their_first_field() {
        let e = FlowError::Invalid {
            issues: (0..7).map(|i| issue(&format!("f{i}"))).collect(),
            flags: Vec::new(),
        };
        assert_eq!(e.class(), ErrorClass::Permanent);
        assert_eq!(e.field().as_deref(), Some("f0"));
        let text = e.to_string();
        assert!(
            text.starts_with("7 validation issues: `f0` (reference): f0 is wrong; `f1`"),
            "{text}"
        );
        assert!(text.ends_with("; and 2 more"), "{text}");
        assert!(!text.contains("f5"), "{text}");
    }
}
