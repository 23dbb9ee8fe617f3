//! Writes: the sales-order create and update (legacy functions, spec §6.1) and
//! the generic `create` / `update` / `delete` (spec §5.1) for the objects in
//! [`Object`].
//!
//! Every write goes with `<uniqueid>true</uniqueid>` and the caller's
//! deterministic control id (spec §8). When Intacct refuses a control id as
//! already processed, the earlier attempt went through: the record is found
//! again (by its reference or business id) and returned as if just written.

use crate::connectors::{ConnectorError, System};

use super::client::{IntacctClient, non_empty};
use super::functions::{ApiFunction, Data, Done, Object, Record, Resolve, SoUpdate, text};
use super::wire::{ArAdjustment, ErrorMessage, SoTransaction};

const SYSTEM: System = System::Intacct;

/// What a generic create or update returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub recordno: String,
    /// The business id (CUSTOMERID, ITEMID, …), for objects that have one.
    pub id: Option<String>,
}

impl IntacctClient {
    /// Creates an Order Entry transaction with `<uniqueid>true</uniqueid>` and the
    /// given deterministic function control id, and returns its key (e.g.
    /// "Sales Order-CO-100045"). If Intacct refuses the control id as already
    /// processed, the existing document is found by its reference and its key
    /// returned.
    pub async fn create_sales_order(
        &self,
        control_id: &str,
        order: &SoTransaction,
    ) -> Result<String, ConnectorError> {
        let done = self
            .call_one(ApiFunction::create_sales_order(control_id, order)?)
            .await?;
        done.key.ok_or_else(|| ConnectorError::Protocol {
            system: SYSTEM,
            message: "create_sotransaction succeeded without a <key>".to_owned(),
        })
    }

    /// `create_aradjustment` with `<uniqueid>true</uniqueid>`: an AR credit memo
    /// (negative line amounts) or debit memo. Returns its key (RECORDNO). A
    /// refused repeat is found again by `adjustmentno`.
    pub async fn create_ar_adjustment(
        &self,
        control_id: &str,
        adjustment: &ArAdjustment,
    ) -> Result<String, ConnectorError> {
        let done = self
            .call_one(ApiFunction::create_ar_adjustment(control_id, adjustment)?)
            .await?;
        done.key.ok_or_else(|| ConnectorError::Protocol {
            system: SYSTEM,
            message: "create_aradjustment succeeded without a <key>".to_owned(),
        })
    }

    /// A sales credit memo (spec §6.7, option A): an Order Entry document of
    /// the given credit definition ("Sales Credit Memo", or "Sales Return" when
    /// the goods come back), written like a sales order. Returns its key.
    pub async fn create_credit_memo(
        &self,
        control_id: &str,
        definition: &str,
        memo: &SoTransaction,
    ) -> Result<String, ConnectorError> {
        let mut memo = memo.clone();
        memo.transactiontype = definition.to_owned();
        self.create_sales_order(control_id, &memo).await
    }

    /// `update_sotransaction`: header fields, changed lines (1-based) and added
    /// lines. Returns the document's key.
    pub async fn update_sales_order(
        &self,
        control_id: &str,
        key: &str,
        update: &SoUpdate,
    ) -> Result<String, ConnectorError> {
        let done = self
            .call_one(ApiFunction::update_sales_order(control_id, key, update)?)
            .await?;
        Ok(done.key.unwrap_or_else(|| key.to_owned()))
    }

    /// Generic `create` of one record; `fields` is the record as JSON, e.g.
    /// `{"CUSTOMERID": "C-1", "NAME": "…", "DISPLAYCONTACT": {"PRINTAS": "…"}}`.
    pub async fn create(
        &self,
        control_id: &str,
        object: Object,
        fields: &Record,
    ) -> Result<Created, ConnectorError> {
        let done = self
            .call_one(ApiFunction::create(control_id, object, fields))
            .await?;
        created(object, &done)
    }

    /// Generic `update`, keyed by `RECORDNO` or the business id in `fields`;
    /// only the fields sent change.
    pub async fn update(
        &self,
        control_id: &str,
        object: Object,
        fields: &Record,
    ) -> Result<Created, ConnectorError> {
        let done = self
            .call_one(ApiFunction::update(control_id, object, fields))
            .await?;
        created(object, &done)
    }

    /// Generic `delete` of records by RECORDNO.
    pub async fn delete(
        &self,
        control_id: &str,
        object: Object,
        recordnos: &[String],
    ) -> Result<(), ConnectorError> {
        self.call_one(ApiFunction::delete(control_id, object, recordnos))
            .await?;
        Ok(())
    }

    /// A write whose control id Intacct refused as already processed: finds
    /// what the earlier attempt wrote.
    pub(crate) async fn resolve(
        &self,
        f: &ApiFunction,
        em: &ErrorMessage,
    ) -> Result<Done, ConnectorError> {
        let found = match &f.resolve {
            Some(Resolve::Key(key)) => Some((key.clone(), None)),
            Some(Resolve::SalesOrder {
                transaction_type,
                reference,
                document_no,
            }) => {
                let key = if let Some(reference) = non_empty(reference.as_deref()) {
                    self.find_sales_order(transaction_type, reference).await?
                } else if let Some(docno) = non_empty(document_no.as_deref()) {
                    self.find_sales_order_by(transaction_type, "DOCNO", docno)
                        .await?
                } else {
                    None
                };
                key.map(|k| (k, None))
            }
            Some(Resolve::Object {
                object,
                field,
                value,
            }) => self
                .find_by(object.as_str(), field, value)
                .await?
                .and_then(|r| text(&r, "RECORDNO").map(|no| (no, Some(r)))),
            Some(Resolve::Lookup {
                object,
                field,
                value,
            }) => self
                .find_by(object, field, value)
                .await?
                .and_then(|r| text(&r, "RECORDNO").map(|no| (no, Some(r)))),
            None => None,
        };
        match found {
            Some((key, record)) => Ok(Done {
                controlid: f.controlid.clone(),
                key: Some(key),
                data: record.map(|r| Data {
                    records: vec![r],
                    ..Data::default()
                }),
                already_processed: true,
            }),
            None => Err(ConnectorError::Refused {
                system: SYSTEM,
                message: format!(
                    "Intacct reports control id '{}' as already processed, but {} was not found; \
                     check it in Intacct ({})",
                    f.controlid,
                    f.record,
                    em.joined()
                ),
            }),
        }
    }
}

fn created(object: Object, done: &Done) -> Result<Created, ConnectorError> {
    let recordno = done.key.clone().ok_or_else(|| ConnectorError::Protocol {
        system: SYSTEM,
        message: format!("{object}: the write succeeded without a RECORDNO"),
    })?;
    let id = object
        .id_field()
        .and_then(|f| done.records().first().and_then(|r| text(r, f)));
    Ok(Created { recordno, id })
}
