//! The Sage Pro bridge client: `X-API-Key` auth, idempotent order creation and
//! lookups by the external reference the connector writes.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::wire::{ErrorBody, ListPage};
use crate::connectors::http::transport_error;
use crate::connectors::{CallGate, ConnectorError, System, parse_retry_after};

const SYSTEM: System = System::Sagepro;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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

impl SageProClient {
    pub fn new(config: SageProConfig, http: reqwest::Client, gate: Arc<dyn CallGate>) -> Self {
        Self {
            config: Arc::new(config),
            http,
            gate,
        }
    }

    /// One authenticated read: `"connected to company 01; 200 items"`.
    pub async fn test_connection(&self) -> Result<String, ConnectorError> {
        let page: ListPage<serde_json::Value> = self
            .send(
                Method::GET,
                "/products",
                &[("PageSize", "1".into())],
                None,
                None,
            )
            .await?
            .1;
        Ok(format!(
            "connected to company {}; {} items",
            self.config.company.as_deref().unwrap_or("01"),
            page.total_count
        ))
    }

    /// `POST /orders` with `Idempotency-Key`. A `409 DUPLICATE` on
    /// `ExternalOrderId` means an earlier attempt (under another key) already
    /// created the order: that order is looked up and returned.
    pub async fn create_order(
        &self,
        idempotency_key: &str,
        order: &serde_json::Value,
    ) -> Result<SalesOrderCreated, ConnectorError> {
        match self
            .send::<serde_json::Value>(
                Method::POST,
                "/orders",
                &[],
                Some(order),
                Some(idempotency_key),
            )
            .await
        {
            Ok((_, body)) => created(body),
            Err(Failure::Duplicate { field, message }) if field == "ExternalOrderId" => {
                let external = order
                    .get("ExternalOrderId")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                match self.find_order_body_by_external_id(external).await? {
                    Some(body) => created(body),
                    None => Err(ConnectorError::Protocol {
                        system: SYSTEM,
                        message: format!(
                            "duplicate ExternalOrderId reported but no order found for it: {message}"
                        ),
                    }),
                }
            }
            Err(e) => Err(e.into()),
        }
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

    /// One order by number.
    pub async fn get_order(
        &self,
        sales_order_no: &str,
    ) -> Result<serde_json::Value, ConnectorError> {
        let path = format!("/orders/{}", path_segment(sales_order_no));
        Ok(self.send(Method::GET, &path, &[], None, None).await?.1)
    }

    /// One page of orders; `filters` are the spec's query names
    /// (`ModifiedSince`, `CustomerNo`, `Status`, `CustomerPO`, …).
    pub async fn list_orders(
        &self,
        filters: &[(&str, String)],
        page: u32,
        page_size: u32,
    ) -> Result<ListPage<serde_json::Value>, ConnectorError> {
        self.list("/orders", filters, page, page_size).await
    }

    /// One page of any list endpoint (`/products`, `/customers`, `/inventory`, …).
    pub async fn list(
        &self,
        path: &str,
        filters: &[(&str, String)],
        page: u32,
        page_size: u32,
    ) -> Result<ListPage<serde_json::Value>, ConnectorError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("Page", page.to_string()));
        query.push(("PageSize", page_size.to_string()));
        Ok(self.send(Method::GET, path, &query, None, None).await?.1)
    }

    async fn find_order_body_by_external_id(
        &self,
        external_order_id: &str,
    ) -> Result<Option<serde_json::Value>, ConnectorError> {
        let page = self
            .list_orders(&[("ExternalOrderId", external_order_id.to_owned())], 1, 2)
            .await?;
        Ok(page.data.into_iter().next())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, T), Failure> {
        let url = format!("{}{}", self.config.base_url.trim_end_matches('/'), path);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("X-API-Key", self.config.api_key.expose_secret())
            .header("accept", "application/json");
        if let Some(company) = &self.config.company {
            request = request.header("X-SagePro-Company", company);
        }
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let _permit = self.gate.admit(SYSTEM).await.map_err(Failure::Other)?;
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Other(transport_error(SYSTEM, e, CALL_TIMEOUT)))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers().get("retry-after"));
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Other(transport_error(SYSTEM, e, CALL_TIMEOUT)))?;
        if !status.is_success() {
            return Err(status_error(status, retry_after, &text));
        }
        let value = serde_json::from_str(&text).map_err(|e| {
            Failure::Other(ConnectorError::Protocol {
                system: SYSTEM,
                message: format!("{method} {path}: unreadable answer: {e}"),
            })
        })?;
        Ok((status, value))
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

/// A failed call: either a final connector error, or a `409 DUPLICATE` the
/// caller may resolve itself.
#[derive(Debug)]
enum Failure {
    Duplicate { field: String, message: String },
    Other(ConnectorError),
}

impl From<Failure> for ConnectorError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Duplicate { field, message } => ConnectorError::Refused {
                system: SYSTEM,
                message: format!("duplicate {field}: {message}"),
            },
            Failure::Other(e) => e,
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

/// Maps a non-2xx answer onto the error model (see the module docs of `sagepro`).
fn status_error(status: StatusCode, retry_after: Option<Duration>, text: &str) -> Failure {
    let body: Option<ErrorBody> = serde_json::from_str(text).ok();
    let code = body.as_ref().map(|b| b.error.code.as_str()).unwrap_or("");
    let first = body.as_ref().and_then(|b| b.error.details.first());
    let message = match &body {
        Some(b) => match first {
            Some(d) => format!("{} ({}): {}", b.error.message, b.error.code, d.message),
            None => format!("{} ({})", b.error.message, b.error.code),
        },
        None => format!(
            "HTTP {}: {}",
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
        (409, "IDEMPOTENCY_IN_PROGRESS") => ConnectorError::RateLimited {
            system: SYSTEM,
            retry_after: retry_after.or(Some(Duration::from_secs(1))),
        },
        (409, "DUPLICATE") => {
            return Failure::Duplicate {
                field: first.map(|d| d.field.clone()).unwrap_or_default(),
                message,
            };
        }
        (422, "VALIDATION_FAILED") => ConnectorError::Validation {
            system: SYSTEM,
            field: first.map(|d| d.field.clone()),
            message,
        },
        (400 | 409 | 412 | 422, _) => ConnectorError::Refused {
            system: SYSTEM,
            message,
        },
        (429, _) => ConnectorError::RateLimited {
            system: SYSTEM,
            retry_after,
        },
        (s, _) if s >= 500 => ConnectorError::Server {
            system: SYSTEM,
            status: s,
            message,
        },
        _ => ConnectorError::Protocol {
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
            body,
        )
        .into()
    }

    #[test]
    fn errors_map_onto_the_connector_model() {
        let invalid = r#"{"Error":{"Code":"VALIDATION_FAILED","Message":"Invalid Customer Number",
            "Details":[{"Field":"CustomerNo","Message":"Customer 'ZZZ99' does not exist"}],"RequestId":"r"}}"#;
        let e = map(422, invalid);
        assert_eq!(e.field(), Some("CustomerNo"));
        assert!(e.to_string().contains("Invalid Customer Number"));
        assert!(e.to_string().contains("ZZZ99"));
        assert!(!e.is_transient());

        let locked = r#"{"Error":{"Code":"RECORD_LOCKED","Message":"Record is in use by another user","Details":[],"RequestId":"r"}}"#;
        assert!(matches!(
            map(409, locked),
            ConnectorError::RecordLocked {
                retry_after: Some(_),
                ..
            }
        ));

        let reused = r#"{"Error":{"Code":"IDEMPOTENCY_KEY_REUSED","Message":"x","Details":[],"RequestId":"r"}}"#;
        assert!(matches!(map(422, reused), ConnectorError::Refused { .. }));

        let busy = r#"{"Error":{"Code":"IDEMPOTENCY_IN_PROGRESS","Message":"x","Details":[],"RequestId":"r"}}"#;
        assert!(map(409, busy).is_transient());

        assert!(matches!(map(401, ""), ConnectorError::Auth { .. }));
        assert!(matches!(map(404, ""), ConnectorError::NotFound { .. }));
        assert!(matches!(map(429, ""), ConnectorError::RateLimited { .. }));
        assert!(matches!(
            map(503, "down"),
            ConnectorError::Server { status: 503, .. }
        ));
    }

    #[test]
    fn a_duplicate_names_its_field() {
        let dup = r#"{"Error":{"Code":"DUPLICATE","Message":"Duplicate ExternalOrderId",
            "Details":[{"Field":"ExternalOrderId","Message":"exists","ExistingKey":"0001001"}],"RequestId":"r"}}"#;
        match status_error(StatusCode::CONFLICT, None, dup) {
            Failure::Duplicate { field, .. } => assert_eq!(field, "ExternalOrderId"),
            other => panic!("{other:?}"),
        }
    }
}
