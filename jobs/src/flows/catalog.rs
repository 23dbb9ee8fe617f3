//! What an ERP holds that a mapping checks a record against: its items, for
//! SKU resolution, and the ids of its master data, for references. The
//! engine reads it through [`ErpCatalog`] only; a real ERP answers through
//! its connector ([`ErpTarget`]), and the sandbox's simulators answer from
//! their own tables through the same trait, so the engine never knows which
//! one it is talking to.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ErpTarget;
use crate::connectors::ConnectorError;
use crate::mapping::schema::RefKind;
use crate::mapping::sku::CatalogItem;

/// Items listed from a production ERP, at most; a bigger catalog is cut (and
/// logged by the caller).
pub const MAX_ITEMS: usize = 50_000;

/// One listing of an ERP's catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSnapshot {
    pub items: Vec<CatalogItem>,
    /// Ids the ERP holds, per reference kind. A kind that is absent (or
    /// empty) is not checked: a reference to it is taken as existing.
    pub references: BTreeMap<RefKind, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The store behind a simulator's catalog failed.
    #[error("catalog store: {0}")]
    Store(String),
}

/// An ERP's catalog, listed on demand. Callers cache the answer.
#[async_trait::async_trait]
pub trait ErpCatalog: Send + Sync {
    async fn snapshot(&self) -> Result<CatalogSnapshot, CatalogError>;
}

/// A production ERP lists its items through the connector; they are also
/// the only references checked (listing every customer or account of a
/// real ERP would cost more calls than it saves).
#[async_trait::async_trait]
impl ErpCatalog for ErpTarget {
    async fn snapshot(&self) -> Result<CatalogSnapshot, CatalogError> {
        let items: Vec<CatalogItem> = match self {
            ErpTarget::Intacct(client) => client
                .read_by_query("ITEM", &["ITEMID", "NAME"], "", 1000)
                .await?
                .into_iter()
                .filter_map(|r| {
                    let sku = r.get("ITEMID")?.as_str()?.to_owned();
                    let name = r
                        .get("NAME")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    Some(CatalogItem { sku, name })
                })
                .collect(),
            ErpTarget::Sagepro(client) => client
                .list_products(None, &[])
                .await?
                .into_iter()
                .map(|p| CatalogItem {
                    sku: p.item_code,
                    name: p.description,
                })
                .collect(),
        };
        let skus = items.iter().map(|i| i.sku.clone()).collect();
        Ok(CatalogSnapshot {
            items,
            references: BTreeMap::from([(RefKind::Item, skus)]),
        })
    }
}
