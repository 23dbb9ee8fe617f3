//! The ledger: source id ↔ target id per (pair, flow, source id, operation).
//! The control plane stores it; flows reach it through this trait.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerKey {
    pub flow: &'static str,
    pub source_id: String,
    pub operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The key sent to the target with every attempt of this write.
    pub idempotency_key: String,
    /// Set once the target confirmed the write.
    pub target_id: Option<String>,
}

/// Idempotency keys are deterministic ([`idempotency_key`]), so nothing
/// needs storing before a write is sent: every attempt sends the same key
/// and the target answers a repeat with the record it made the first time.
/// An entry is stored when the target confirms the write.
#[async_trait::async_trait]
pub trait LedgerStore: Send + Sync {
    /// The stored entry, or a new one with `idempotency_key`: a stored key
    /// wins (an entry written under an earlier key scheme keeps its key),
    /// and a target id tells that the write was confirmed already.
    async fn lookup(&self, key: &LedgerKey, idempotency_key: &str) -> anyhow::Result<LedgerEntry>;
    /// The target confirmed the write. A store may hold this until the
    /// record's outcome is written and persist both in one transaction: a
    /// crash in between loses only the confirmation, and the retry sends the
    /// same idempotency key, so the target answers with the same record.
    async fn complete(&self, key: &LedgerKey, target_id: &str) -> anyhow::Result<()>;
    /// The link of a record kept in step in both systems, if one is stored.
    async fn link(&self, key: &LedgerKey) -> anyhow::Result<Option<Link>>;
    /// Links the record to `target_id` in the other system; `content`,
    /// when given, is what was just written there (`None` keeps what was
    /// stored). Held and stored with the outcome, like [`Self::complete`];
    /// a link with content counts as one transaction.
    async fn set_link(
        &self,
        key: &LedgerKey,
        target_id: &str,
        content: Option<serde_json::Value>,
    ) -> anyhow::Result<()>;
}

/// A record's counterpart in the other system, and what this product last
/// wrote there: the echo of that write is not a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub target_id: String,
    pub content: Option<serde_json::Value>,
    /// When the link was last written (ms since the epoch).
    pub updated_at: i64,
}

/// A deterministic key for one write: the same source record and operation
/// always give the same key, within the 100 characters Sage Pro allows.
pub fn idempotency_key(source: &str, flow: &str, source_id: &str, operation: &str) -> String {
    let key = format!("{source}-{flow}-{source_id}-{operation}");
    let clean = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if key.len() <= 100 && clean {
        return key;
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("{source}-{flow}-{}-{operation}", &digest[..40])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_bounded() {
        let a = idempotency_key("clarity", "orders", "CO-100045", "create");
        assert_eq!(a, "clarity-orders-CO-100045-create");
        assert_eq!(
            a,
            idempotency_key("clarity", "orders", "CO-100045", "create")
        );
        let long = "X".repeat(300);
        let k = idempotency_key("clarity", "orders", &long, "create");
        assert!(k.len() <= 100);
        assert_eq!(k, idempotency_key("clarity", "orders", &long, "create"));
        let odd = idempotency_key("clarity", "orders", "CO 1/2", "create");
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        );
    }
}
