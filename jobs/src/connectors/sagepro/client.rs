//! The Sage Pro bridge client: `X-API-Key` auth, a typed method per endpoint,
//! lists paged to the end from a `ModifiedSince`, and every write under an
//! `Idempotency-Key` the caller supplies (the same key on each retry, so a
//! retry after a lost answer replays instead of writing twice).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::wire::{
    Customer, CustomerInput, ErrorBody, Inventory, InventoryAdjustment, Invoice, InvoiceInput,
    ListPage, Product, ProductUpdate, SalesOrder,
};
use crate::connectors::http::transport_error;
use crate::connectors::{CallGate, ConnectorError, System, parse_retry_after};

const SYSTEM: System = System::Sagepro;
/// The spec's largest page: fewer calls against a 60-a-minute limit.
const PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone)]
pub struct SageProConfig {
    /// e.g. `http://127.0.0.1:8080/sandbox/sagepro/{pair_id}/api/v1/sagepro`.
    pub base_url: String,
    pub api_key: SecretString,
    /// `X-SagePro-Company`; `None` uses the agent's configured company.
    pub company: Option<String>,
}

/// The answer of [`SageProClient::create_order`]: the order number and the
/// order as Sage Pro holds it.
#[derive(Debug, Clone)]
pub struct SalesOrderCreated {
    pub sales_order_no: String,
    pub body: serde_json::Value,
}

#[derive(Clone)]
pub struct SageProClient {
    config: Arc<SageProConfig>,
    http: reqwest::Client,
    gate: Arc<dyn CallGate>,
}

impl std::fmt::Debug for SageProClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SageProClient")
            .field("base_url", &self.config.base_url)
            .field("company", &self.config.company)
            .finish_non_exhaustive()
    }
}

/// One request: what it is about (for error messages) and its extras.
struct Call<'a> {
    method: Method,
    path: String,
    /// The record named in errors, e.g. `order 0001001`, `customer DOEJ01`.
    record: String,
    query: Vec<(&'a str, String)>,
    body: Option<serde_json::Value>,
    idempotency_key: Option<&'a str>,
    if_match: Option<i64>,
}

impl<'a> Call<'a> {
    fn get(path: String, record: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            path,
            record: record.into(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            if_match: None,
        }
    }

    fn write(
        method: Method,
        path: String,
        record: impl Into<String>,
        body: serde_json::Value,
        idempotency_key: &'a str,
    ) -> Self {
        Call {
            method,
            path,
            record: record.into(),
            query: Vec::new(),
            body: Some(body),
            idempotency_key: Some(idempotency_key),
            if_match: None,
        }
    }
}

fn to_body<T: Serialize>(value: &T) -> Result<serde_json::Value, ConnectorError> {
    serde_json::to_value(value).map_err(|e| ConnectorError::Protocol {
        system: SYSTEM,
        message: format!("request body does not serialize: {e}"),
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl SageProClient {
    pub fn new(config: SageProConfig, http: reqwest::Client, gate: Arc<dyn CallGate>) -> Self {
        Self {
            config: Arc::new(config),
            http,
            gate,
        }
    }

    /// One authenticated read: `"signed in to company 01 with the API key; 200 items in the catalog"`.
    pub async fn test_connection(&self) -> Result<String, ConnectorError> {
        let page = self.list_page("/products", &[], 1, 1).await?;
        Ok(format!(
            "signed in to company {} with the API key; {} items in the catalog",
            self.config.company.as_deref().unwrap_or("01"),
            page.total_count
        ))
    }

    // -- Orders --------------------------------------------------------------

    /// `POST /orders` with `Idempotency-Key`. A `409 DUPLICATE` on
    /// `ExternalOrderId` means an earlier attempt (under another key) already
    /// created the order: that order is looked up and returned.
    pub async fn create_order(
        &self,
        idempotency_key: &str,
        order: &serde_json::Value,
    ) -> Result<SalesOrderCreated, ConnectorError> {
        let external = order
            .get("ExternalOrderId")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let record = if external.is_empty() {
            "new order".to_owned()
        } else {
            format!("order {external}")
        };
        let call = Call::write(
            Method::POST,
            "/orders".into(),
            record,
            order.clone(),
            idempotency_key,
        );
        match self.send::<serde_json::Value>(call).await {
            Ok(body) => created(body),
            Err(Failure::Duplicate { field, error }) if field == "ExternalOrderId" => {
                match self.find_order_body_by_external_id(external).await? {
                    Some(body) => created(body),
                    None => Err(ConnectorError::Protocol {
                        system: SYSTEM,
                        message: format!(
                            "duplicate ExternalOrderId reported but no order found for it: {error}"
                        ),
                    }),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `PUT /orders/{SalesOrderNo}`: full replace of the editable fields
    /// (`order` is an `OrderInput`-shaped body). `if_match` is the RowVersion
    /// read; a newer one on the server is `412`, a permanent error.
    pub async fn update_order(
        &self,
        idempotency_key: &str,
        sales_order_no: &str,
        order: &serde_json::Value,
        if_match: Option<i64>,
    ) -> Result<SalesOrder, ConnectorError> {
        let mut call = Call::write(
            Method::PUT,
            format!("/orders/{}", path_segment(sales_order_no)),
            format!("order {sales_order_no}"),
            order.clone(),
            idempotency_key,
        );
        call.if_match = if_match;
        Ok(self.send(call).await?)
    }

    /// One order by number.
    pub async fn get_order(&self, sales_order_no: &str) -> Result<SalesOrder, ConnectorError> {
        let path = format!("/orders/{}", path_segment(sales_order_no));
        Ok(self
            .send(Call::get(path, format!("order {sales_order_no}")))
            .await?)
    }

    /// Every order changed at or after `since` (all when `None`), with the
    /// spec's filters (`CustomerNo`, `Status`, `CustomerPO`, …), paged to the end.
    pub async fn list_orders(
        &self,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<SalesOrder>, ConnectorError> {
        self.list_all("/orders", "SalesOrderNo", since, filters)
            .await
    }

    /// The `SalesOrderNo` holding this `ExternalOrderId`, if any.
    pub async fn find_order_by_external_id(
        &self,
        external_order_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        Ok(self
            .find_order_body_by_external_id(external_order_id)
            .await?
            .and_then(|b| {
                b.get("SalesOrderNo")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            }))
    }

    async fn find_order_body_by_external_id(
        &self,
        external_order_id: &str,
    ) -> Result<Option<serde_json::Value>, ConnectorError> {
        let page = self
            .list_page(
                "/orders",
                &[("ExternalOrderId", external_order_id.to_owned())],
                1,
                2,
            )
            .await?;
        Ok(page.data.into_iter().next())
    }

    // -- Products ------------------------------------------------------------

    pub async fn get_product(&self, item_code: &str) -> Result<Product, ConnectorError> {
        let path = format!("/products/{}", path_segment(item_code));
        Ok(self
            .send(Call::get(path, format!("item {item_code}")))
            .await?)
    }

    /// Every item changed at or after `since`, paged to the end.
    pub async fn list_products(
        &self,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<Product>, ConnectorError> {
        self.list_all("/products", "ItemCode", since, filters).await
    }

    /// `PUT /products/{ItemCode}`: the fields set in `update`.
    pub async fn update_product(
        &self,
        idempotency_key: &str,
        item_code: &str,
        update: &ProductUpdate,
        if_match: Option<i64>,
    ) -> Result<Product, ConnectorError> {
        let mut call = Call::write(
            Method::PUT,
            format!("/products/{}", path_segment(item_code)),
            format!("item {item_code}"),
            to_body(update)?,
            idempotency_key,
        );
        call.if_match = if_match;
        Ok(self.send(call).await?)
    }

    // -- Customers -----------------------------------------------------------

    pub async fn get_customer(&self, customer_no: &str) -> Result<Customer, ConnectorError> {
        let path = format!("/customers/{}", path_segment(customer_no));
        Ok(self
            .send(Call::get(path, format!("customer {customer_no}")))
            .await?)
    }

    /// Every customer changed at or after `since`, paged to the end.
    pub async fn list_customers(
        &self,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<Customer>, ConnectorError> {
        self.list_all("/customers", "CustomerNo", since, filters)
            .await
    }

    /// `POST /customers`; without `CustomerNo` the server generates one.
    pub async fn create_customer(
        &self,
        idempotency_key: &str,
        customer: &CustomerInput,
    ) -> Result<Customer, ConnectorError> {
        let record = match (&customer.customer_no, &customer.external_customer_id) {
            (Some(no), _) if !no.is_empty() => format!("customer {no}"),
            (_, Some(ext)) if !ext.is_empty() => format!("customer {ext}"),
            _ => format!(
                "new customer {}",
                customer.email.as_deref().unwrap_or_default()
            ),
        };
        let call = Call::write(
            Method::POST,
            "/customers".into(),
            record,
            to_body(customer)?,
            idempotency_key,
        );
        Ok(self.send(call).await?)
    }

    /// `PUT /customers/{CustomerNo}`: the fields set in `update`.
    pub async fn update_customer(
        &self,
        idempotency_key: &str,
        customer_no: &str,
        update: &CustomerInput,
        if_match: Option<i64>,
    ) -> Result<Customer, ConnectorError> {
        let mut call = Call::write(
            Method::PUT,
            format!("/customers/{}", path_segment(customer_no)),
            format!("customer {customer_no}"),
            to_body(update)?,
            idempotency_key,
        );
        call.if_match = if_match;
        Ok(self.send(call).await?)
    }

    // -- Inventory -----------------------------------------------------------

    /// Every stock record changed at or after `since`, paged to the end.
    pub async fn list_inventory(
        &self,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<Inventory>, ConnectorError> {
        self.list_all("/inventory", "ItemCode", since, filters)
            .await
    }

    /// The item's stock in every warehouse.
    pub async fn get_item_inventory(
        &self,
        item_code: &str,
    ) -> Result<Vec<Inventory>, ConnectorError> {
        let path = format!("/inventory/{}", path_segment(item_code));
        Ok(self
            .send(Call::get(path, format!("stock of {item_code}")))
            .await?)
    }

    pub async fn get_inventory(
        &self,
        item_code: &str,
        warehouse: &str,
    ) -> Result<Inventory, ConnectorError> {
        let path = format!(
            "/inventory/{}/{}",
            path_segment(item_code),
            path_segment(warehouse)
        );
        Ok(self
            .send(Call::get(
                path,
                format!("stock of {item_code} in {warehouse}"),
            ))
            .await?)
    }

    /// A physical count: `QtyOnHand` becomes the counted quantity. The spec
    /// requires `If-Match` here, so `row_version` is not optional.
    pub async fn update_inventory(
        &self,
        idempotency_key: &str,
        item_code: &str,
        warehouse: &str,
        count: &InventoryAdjustment,
        row_version: i64,
    ) -> Result<Inventory, ConnectorError> {
        let mut call = Call::write(
            Method::PUT,
            format!(
                "/inventory/{}/{}",
                path_segment(item_code),
                path_segment(warehouse)
            ),
            format!("stock of {item_code} in {warehouse}"),
            to_body(count)?,
            idempotency_key,
        );
        call.if_match = Some(row_version);
        Ok(self.send(call).await?)
    }

    // -- Invoices ------------------------------------------------------------

    /// `POST /invoices`: from an order (`SalesOrderNo`, optional `Lines`) or
    /// a direct invoice / credit memo.
    pub async fn create_invoice(
        &self,
        idempotency_key: &str,
        invoice: &InvoiceInput,
    ) -> Result<Invoice, ConnectorError> {
        let record = match (&invoice.sales_order_no, &invoice.customer_po) {
            (Some(no), _) if !no.is_empty() => format!("invoice of order {no}"),
            (_, Some(po)) if !po.is_empty() => format!("invoice {po}"),
            _ => format!(
                "invoice for customer {}",
                invoice.customer_no.as_deref().unwrap_or_default()
            ),
        };
        let call = Call::write(
            Method::POST,
            "/invoices".into(),
            record,
            to_body(invoice)?,
            idempotency_key,
        );
        Ok(self.send(call).await?)
    }

    pub async fn get_invoice(&self, invoice_no: &str) -> Result<Invoice, ConnectorError> {
        let path = format!("/invoices/{}", path_segment(invoice_no));
        Ok(self
            .send(Call::get(path, format!("invoice {invoice_no}")))
            .await?)
    }

    /// Every invoice changed at or after `since`, paged to the end.
    pub async fn list_invoices(
        &self,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<Invoice>, ConnectorError> {
        self.list_all("/invoices", "InvoiceNo", since, filters)
            .await
    }

    // -- Lists ---------------------------------------------------------------

    /// One page of any list endpoint.
    pub async fn list_page(
        &self,
        path: &str,
        filters: &[(&str, String)],
        page: u32,
        page_size: u32,
    ) -> Result<ListPage<serde_json::Value>, ConnectorError> {
        let mut call = Call::get(path.to_owned(), format!("list {path}"));
        call.query = filters.to_vec();
        call.query.push(("Page", page.to_string()));
        call.query.push(("PageSize", page_size.to_string()));
        Ok(self.send(call).await?)
    }

    /// Pages until `HasMore` is false. Offset pages over a list sorted by
    /// `LastModified` can show a record twice when it changes meanwhile, so
    /// records are deduplicated on (key, RowVersion), as the spec advises.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key_field: &str,
        since: Option<OffsetDateTime>,
        filters: &[(&str, String)],
    ) -> Result<Vec<T>, ConnectorError> {
        let mut query = filters.to_vec();
        if let Some(t) = since {
            query.push(("ModifiedSince", rfc3339(t)));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let answer = self.list_page(path, &query, page, PAGE_SIZE).await?;
            let empty = answer.data.is_empty();
            for v in answer.data {
                let key = (
                    v.get(key_field).map(|k| k.to_string()).unwrap_or_default(),
                    v.get("Warehouse")
                        .map(|k| k.to_string())
                        .unwrap_or_default(),
                    v.get("RowVersion").and_then(|r| r.as_i64()).unwrap_or(0),
                );
                if seen.insert(key) {
                    out.push(
                        serde_json::from_value(v).map_err(|e| ConnectorError::Protocol {
                            system: SYSTEM,
                            message: format!("GET {path}: unreadable record: {e}"),
                        })?,
                    );
                }
            }
            if !answer.has_more {
                return Ok(out);
            }
            if empty {
                return Err(ConnectorError::Protocol {
                    system: SYSTEM,
                    message: format!("GET {path}: page {page} is empty but HasMore is true"),
                });
            }
            page += 1;
        }
    }

    async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Failure> {
        let url = format!(
            "{}{}",
            self.config.base_url.trim_end_matches('/'),
            call.path
        );
        let mut request = self
            .http
            .request(call.method.clone(), &url)
            .header("X-API-Key", self.config.api_key.expose_secret())
            .header("accept", "application/json");
        if let Some(company) = &self.config.company {
            request = request.header("X-SagePro-Company", company);
        }
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(v) = call.if_match {
            request = request.header("If-Match", format!("\"{v}\""));
        }
        let _permit = self.gate.admit(SYSTEM).await.map_err(Failure::Other)?;
        let started = std::time::Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Other(transport_error(SYSTEM, e, started.elapsed())))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers().get("retry-after"));
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Other(transport_error(SYSTEM, e, started.elapsed())))?;
        if !status.is_success() {
            return Err(status_error(status, retry_after, &call.record, &text));
        }
        serde_json::from_str(&text).map_err(|e| {
            Failure::Other(ConnectorError::Protocol {
                system: SYSTEM,
                message: format!("{} {}: unreadable answer: {e}", call.method, call.path),
            })
        })
    }
}

fn created(body: serde_json::Value) -> Result<SalesOrderCreated, ConnectorError> {
    let sales_order_no = body
        .get("SalesOrderNo")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ConnectorError::Protocol {
            system: SYSTEM,
            message: "order answer without SalesOrderNo".to_owned(),
        })?
        .to_owned();
    Ok(SalesOrderCreated {
        sales_order_no,
        body,
    })
}

/// A failed call: a final connector error, or a `409 DUPLICATE` the caller
/// may resolve itself (and otherwise reports as the error it carries).
#[derive(Debug)]
enum Failure {
    Duplicate {
        field: String,
        error: ConnectorError,
    },
    Other(ConnectorError),
}

impl From<Failure> for ConnectorError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Duplicate { error, .. } | Failure::Other(error) => error,
        }
    }
}

fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The error a non-2xx answer of `record`'s call becomes, whatever its body:
/// the spec's error shape is read when it is there and the raw text quoted
/// when it is not.
pub fn error_for_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    record: &str,
    body: &str,
) -> ConnectorError {
    status_error(status, retry_after, record, body).into()
}

/// Maps a non-2xx answer onto the error model (see the module docs of
/// `sagepro`). Permanent errors name the record and, from `Details`, the field.
fn status_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    record: &str,
    text: &str,
) -> Failure {
    let body: Option<ErrorBody> = serde_json::from_str(text).ok();
    let code = body.as_ref().map(|b| b.error.code.as_str()).unwrap_or("");
    let first = body.as_ref().and_then(|b| b.error.details.first());
    let field = first.map(|d| d.field.clone()).filter(|f| !f.is_empty());
    let message = match &body {
        Some(b) => match first {
            Some(d) => format!(
                "{record}: {} ({}): {}: {}{}",
                b.error.message,
                b.error.code,
                d.field,
                d.message,
                d.existing_key
                    .as_ref()
                    .map(|k| format!(" (existing {k})"))
                    .unwrap_or_default()
            ),
            None => format!("{record}: {} ({})", b.error.message, b.error.code),
        },
        None => format!(
            "{record}: HTTP {}: {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        ),
    };
    let err = match (status.as_u16(), code) {
        (401 | 403, _) => ConnectorError::Auth {
            system: SYSTEM,
            message,
        },
        (404, _) => ConnectorError::NotFound {
            system: SYSTEM,
            message,
        },
        (409, "RECORD_LOCKED") => ConnectorError::RecordLocked {
            system: SYSTEM,
            message,
            retry_after,
        },
        // The first request with this key is still running: ask again soon.
        (409, "IDEMPOTENCY_IN_PROGRESS") => ConnectorError::RateLimited {
            system: SYSTEM,
            retry_after: retry_after.or(Some(Duration::from_secs(1))),
        },
        (409, "DUPLICATE") => {
            return Failure::Duplicate {
                field: field.clone().unwrap_or_default(),
                error: ConnectorError::Validation {
                    system: SYSTEM,
                    field,
                    message,
                },
            };
        }
        // Malformed input, a conflict, a stale If-Match, a failed rule, a
        // reused key or a wrong state: the same request cannot succeed.
        (400 | 409 | 412 | 422, _) => ConnectorError::Validation {
            system: SYSTEM,
            field,
            message,
        },
        (429, _) => ConnectorError::RateLimited {
            system: SYSTEM,
            retry_after,
        },
        (503, _) => ConnectorError::Unavailable {
            system: SYSTEM,
            status: 503,
            message,
            retry_after,
        },
        (s, _) if s >= 500 => ConnectorError::Server {
            system: SYSTEM,
            status: s,
            message,
        },
        _ => ConnectorError::Refused {
            system: SYSTEM,
            message,
        },
    };
    Failure::Other(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> ConnectorError {
        status_error(
            StatusCode::from_u16(status).unwrap(),
            Some(Duration::from_secs(5)),
            "order clarity:CO-1",
            body,
        )
        .into()
    }

    fn body(code: &str, field: Option<&str>) -> String {
        let details = field
            .map(|f| format!(r#"[{{"Field":"{f}","Message":"m"}}]"#))
            .unwrap_or_else(|| "[]".into());
        format!(
            r#"{{"Error":{{"Code":"{code}","Message":"x","Details":{details},"RequestId":"r"}}}}"#
        )
    }

    #[test]
    fn permanent_errors_name_the_record_and_the_field() {
        let invalid = r#"{"Error":{"Code":"VALIDATION_FAILED","Message":"Invalid Customer Number",
            "Details":[{"Field":"CustomerNo","Message":"Customer 'ZZZ99' does not exist"}],"RequestId":"r"}}"#;
        let e = map(422, invalid);
        assert_eq!(e.field(), Some("CustomerNo"));
        assert!(e.to_string().contains("order clarity:CO-1"), "{e}");
        assert!(e.to_string().contains("Invalid Customer Number"));
        assert!(e.to_string().contains("ZZZ99"));
        assert!(!e.is_transient());

        for (status, code, field) in [
            (422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key"),
            (422, "INVALID_STATE", "Status"),
            (412, "PRECONDITION_FAILED", "SalesOrderNo"),
            (400, "BAD_REQUEST", "Idempotency-Key"),
            (409, "DUPLICATE", "Email"),
        ] {
            let e = map(status, &body(code, Some(field)));
            assert!(!e.is_transient(), "{code}");
            assert_eq!(e.field(), Some(field), "{code}");
            assert!(e.to_string().contains(code), "{e}");
        }
        assert!(matches!(map(401, ""), ConnectorError::Auth { .. }));
        assert!(matches!(
            map(403, &body("FORBIDDEN", None)),
            ConnectorError::Auth { .. }
        ));
        assert!(matches!(map(404, ""), ConnectorError::NotFound { .. }));
    }

    #[test]
    fn transient_errors_keep_retry_after() {
        let five = Some(Duration::from_secs(5));
        for (status, code) in [
            (409, "RECORD_LOCKED"),
            (429, "RATE_LIMITED"),
            (503, "UNAVAILABLE"),
        ] {
            let e = map(status, &body(code, None));
            assert_eq!(
                e.class(),
                crate::connectors::ErrorClass::Transient { retry_after: five },
                "{code}"
            );
        }
        assert!(map(409, &body("IDEMPOTENCY_IN_PROGRESS", None)).is_transient());
        assert!(matches!(
            map(500, "boom"),
            ConnectorError::Server { status: 500, .. }
        ));
        assert!(map(500, "boom").is_transient());
    }

    #[test]
    fn a_duplicate_names_its_field() {
        let dup = r#"{"Error":{"Code":"DUPLICATE","Message":"Duplicate ExternalOrderId",
            "Details":[{"Field":"ExternalOrderId","Message":"exists","ExistingKey":"0001001"}],"RequestId":"r"}}"#;
        match status_error(StatusCode::CONFLICT, None, "order x", dup) {
            Failure::Duplicate { field, error } => {
                assert_eq!(field, "ExternalOrderId");
                assert!(error.to_string().contains("0001001"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
