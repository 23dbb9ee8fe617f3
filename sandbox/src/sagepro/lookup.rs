//! Validation against the company's master files, as Pro Series imports do
//! it (spec §0, §1): a code that is not on file is `422 VALIDATION_FAILED`
//! in the import's words, naming the field that carried it.

use std::collections::HashMap;

use super::wire::{Customer, Product};

use super::{SpError, SpResult};

/// The customer on file, or `"Invalid Customer Number"`.
pub(super) async fn customer(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    customer_no: &str,
) -> SpResult<Customer> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
    )
    .bind(pair_id)
    .bind(customer_no)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((body,)) = row else {
        return Err(SpError::validation(
            "Invalid Customer Number",
            "CustomerNo",
            format!("Customer '{customer_no}' does not exist"),
        ));
    };
    serde_json::from_str(&body).map_err(SpError::internal)
}

/// `PaymentTerms` must be a code of the terms table.
pub(super) async fn terms(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    code: &str,
) -> SpResult<()> {
    let known: Option<(String,)> =
        sqlx::query_as("SELECT code FROM sim_sagepro_terms WHERE pair_id = $1 AND code = $2")
            .bind(pair_id)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    match known {
        Some(_) => Ok(()),
        None => Err(SpError::validation(
            "Invalid Payment Terms",
            "PaymentTerms",
            format!("Terms code '{code}' does not exist"),
        )),
    }
}

/// A warehouse code sent in `field` must exist.
pub(super) async fn warehouse(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    code: &str,
    field: &str,
) -> SpResult<()> {
    let known: Option<(String,)> =
        sqlx::query_as("SELECT code FROM sim_sagepro_warehouses WHERE pair_id = $1 AND code = $2")
            .bind(pair_id)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    match known {
        Some(_) => Ok(()),
        None => Err(SpError::validation(
            "Invalid Warehouse",
            field,
            format!("Warehouse '{code}' does not exist"),
        )),
    }
}

/// Item masters read once per document: lines often repeat an item.
#[derive(Default)]
pub(super) struct Items(HashMap<String, Product>);

impl Items {
    /// The item on file, or `"Invalid Item Code"` on `field`.
    pub(super) async fn get(
        &mut self,
        conn: &mut sqlx::AnyConnection,
        pair_id: &str,
        code: &str,
        field: &str,
    ) -> SpResult<&Product> {
        if !self.0.contains_key(code) {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT body FROM sim_sagepro_items WHERE pair_id = $1 AND item_code = $2",
            )
            .bind(pair_id)
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((body,)) = row else {
                return Err(SpError::validation(
                    "Invalid Item Code",
                    field,
                    format!("Item '{code}' does not exist"),
                ));
            };
            let item = serde_json::from_str(&body).map_err(SpError::internal)?;
            self.0.insert(code.to_owned(), item);
        }
        Ok(&self.0[code])
    }
}
