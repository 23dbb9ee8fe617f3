//! The Intacct connector: sessions, one request per call, and the idempotent
//! sales-order create.
//!
//! - **Sessions** (spec §3): the first call signs in with `getAPISession` (the
//!   only function in its request) and caches the session id, the endpoint it
//!   returned and its sliding timeout. Every later call uses the session. When a
//!   call fails at the authentication level, the client signs in again **once** and
//!   repeats the call; a second authentication failure is `SessionExpired`.
//! - **Writes** (spec §8) carry `<uniqueid>true</uniqueid>` and the caller's
//!   deterministic function `controlid`, so a retry after an unknown outcome can
//!   never create a second document. When Intacct says the control id already ran,
//!   the document is looked up by its reference and its key returned.
//! - **Errors** map onto [`ConnectorError`] in [`super::classify`]; no retry loop
//!   lives here (the flows own retries and backoff).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::connectors::http::transport_error;
use crate::connectors::{CallGate, ConnectorError, System, parse_retry_after};

use super::classify;
use super::wire::{
    Authentication, Condition, Conditions, Content, Control, DTD_VERSION, Direction, Filter,
    Function, FunctionCall, FunctionResult, GetApiSession, Login, Operation, Order, OrderBy, Query,
    Request, Response, ResponseOperation, ResultData, Select, SelectItem, SoTransaction, Status,
    errno, parse_session_timestamp,
};

const SYSTEM: System = System::Intacct;

/// What a pair stores to reach one Intacct company.
#[derive(Debug, Clone)]
pub struct IntacctConfig {
    /// The first URL to call, e.g. `https://api.intacct.com/ia/xml/xmlgw.phtml`.
    pub endpoint_url: String,
    pub sender_id: String,
    pub sender_password: SecretString,
    pub company_id: String,
    pub user_id: String,
    pub user_password: SecretString,
    /// Sign in to this entity (multi-entity companies); `None` is top level.
    pub entity_id: Option<String>,
}

/// A cached API session.
#[derive(Clone)]
struct Session {
    id: SecretString,
    endpoint: String,
    /// The sliding timeout Intacct last reported, when it reported one.
    expires_at: Option<OffsetDateTime>,
    /// A counter that tells one sign-in from the next, so that two callers that
    /// both see a session fail re-login only once.
    generation: u64,
}

#[derive(Default)]
struct SessionSlot {
    current: Option<Session>,
    generations: u64,
}

/// A connector for one Intacct company. Clones share the session cache.
#[derive(Clone)]
pub struct IntacctClient {
    http: reqwest::Client,
    config: Arc<IntacctConfig>,
    gate: Arc<dyn CallGate>,
    session: Arc<tokio::sync::Mutex<SessionSlot>>,
    /// Per-request bound; `None` leaves the HTTP client's own timeout in charge.
    request_timeout: Option<Duration>,
}

/// What one sent request came back as, once the control block succeeded.
enum Sent {
    Done(ResponseOperation),
    /// The authentication block failed; no function ran.
    AuthFailed(String),
}

impl IntacctClient {
    pub fn new(config: IntacctConfig, http: reqwest::Client, gate: Arc<dyn CallGate>) -> Self {
        Self {
            http,
            config: Arc::new(config),
            gate,
            session: Arc::new(tokio::sync::Mutex::new(SessionSlot::default())),
            request_timeout: None,
        }
    }

    /// Bounds every request this client sends (instead of the HTTP client's
    /// timeout). A write that outlives it is resolved by its control id on retry.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Signs in afresh with `getAPISession` and describes the session, e.g.
    /// "signed in as ws_user at DEMO-XXXX (entity US-EAST), session valid until …".
    pub async fn test_connection(&self) -> Result<String, ConnectorError> {
        let mut slot = self.session.lock().await;
        let (session, detail) = self.open_session(&mut slot).await?;
        drop(session);
        Ok(detail)
    }

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
        validate_control_id(control_id)?;
        let function = Function {
            controlid: control_id.to_owned(),
            call: FunctionCall::CreateSoTransaction(Box::new(order.into())),
        };
        let result = self.call_one(function, true).await?;
        match result.status {
            Status::Success => result
                .key
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .ok_or_else(|| ConnectorError::Protocol {
                    system: SYSTEM,
                    message: "create_sotransaction succeeded without a <key>".to_owned(),
                }),
            _ => {
                let em = result.errormessage.unwrap_or_default();
                if !classify::already_processed(&em, control_id) {
                    return Err(classify::sales_order_failure(&em, order));
                }
                // The earlier attempt went through: find what it created.
                let found = if let Some(reference) = non_empty(order.referenceno.as_deref()) {
                    self.find_sales_order_by(&order.transactiontype, "PONUMBER", reference)
                        .await?
                } else if let Some(docno) = non_empty(order.documentno.as_deref()) {
                    self.find_sales_order_by(&order.transactiontype, "DOCNO", docno)
                        .await?
                } else {
                    None
                };
                found.ok_or_else(|| ConnectorError::Refused {
                    system: SYSTEM,
                    message: format!(
                        "Intacct reports control id '{control_id}' as already processed, but no {} \
                         with reference '{}' was found; check the transaction in Intacct ({})",
                        order.transactiontype,
                        order
                            .referenceno
                            .as_deref()
                            .or(order.documentno.as_deref())
                            .unwrap_or(""),
                        em.joined()
                    ),
                })
            }
        }
    }

    /// The key (DOCID) of the transaction of this definition whose reference
    /// number (`PONUMBER`, set from `referenceno`) is `reference_no`, if any.
    pub async fn find_sales_order(
        &self,
        transaction_type: &str,
        reference_no: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.find_sales_order_by(transaction_type, "PONUMBER", reference_no)
            .await
    }

    async fn find_sales_order_by(
        &self,
        transaction_type: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let query = Query {
            object: "SODOCUMENT".to_owned(),
            select: Select {
                items: ["RECORDNO", "DOCID", "DOCNO", "DOCPARID", "PONUMBER"]
                    .into_iter()
                    .map(|f| SelectItem::Field(f.to_owned()))
                    .collect(),
            },
            filter: Some(Filter {
                condition: Condition::And(Conditions {
                    conditions: vec![
                        Condition::equal_to("DOCPARID", transaction_type),
                        Condition::equal_to(field, value),
                    ],
                }),
            }),
            orderby: Some(OrderBy {
                order: vec![Order {
                    field: "RECORDNO".to_owned(),
                    direction: Some(Direction::Ascending),
                }],
            }),
            options: None,
            pagesize: Some(10),
            offset: None,
            docparid: Some(transaction_type.to_owned()),
        };
        let function = Function {
            controlid: format!("find-{}", uuid::Uuid::now_v7()),
            call: FunctionCall::Query(Box::new(query)),
        };
        let result = self.call_one(function, false).await?;
        if result.status != Status::Success {
            let em = result.errormessage.unwrap_or_default();
            return Err(ConnectorError::Protocol {
                system: SYSTEM,
                message: format!(
                    "looking up {transaction_type} {value} failed: {}",
                    em.joined()
                ),
            });
        }
        let data = result.data.unwrap_or_default();
        Ok(first_docid(&data, transaction_type))
    }

    /// Sends one function (with the session, re-signing in once if needed) and
    /// returns its result.
    async fn call_one(
        &self,
        function: Function,
        unique: bool,
    ) -> Result<FunctionResult, ConnectorError> {
        let functions = vec![function];
        let op = self.call(&functions, unique).await?;
        let mut results = op.result;
        if results.len() != 1 {
            return Err(ConnectorError::Protocol {
                system: SYSTEM,
                message: format!("expected one <result>, got {}", results.len()),
            });
        }
        Ok(results.remove(0))
    }

    async fn call(
        &self,
        functions: &[Function],
        unique: bool,
    ) -> Result<ResponseOperation, ConnectorError> {
        let session = self.session().await?;
        match self.send_with_session(&session, functions, unique).await? {
            Sent::Done(op) => return Ok(op),
            Sent::AuthFailed(message) => {
                tracing::info!(%message, "intacct session refused; signing in again");
            }
        }
        let session = self.renew_session(session.generation).await?;
        match self.send_with_session(&session, functions, unique).await? {
            Sent::Done(op) => Ok(op),
            Sent::AuthFailed(message) => {
                tracing::warn!(%message, "intacct refused a fresh session");
                self.forget_session(session.generation).await;
                Err(ConnectorError::SessionExpired { system: SYSTEM })
            }
        }
    }

    /// The cached session, or a new one when there is none or it is about to expire.
    async fn session(&self) -> Result<Session, ConnectorError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = &slot.current {
            let fresh = s
                .expires_at
                .is_none_or(|t| t > OffsetDateTime::now_utc() + Duration::from_secs(30));
            if fresh {
                return Ok(s.clone());
            }
        }
        Ok(self.open_session(&mut slot).await?.0)
    }

    /// Signs in again unless another caller already replaced the failed session.
    async fn renew_session(&self, failed_generation: u64) -> Result<Session, ConnectorError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = &slot.current
            && s.generation != failed_generation
        {
            return Ok(s.clone());
        }
        slot.current = None;
        Ok(self.open_session(&mut slot).await?.0)
    }

    async fn forget_session(&self, generation: u64) {
        let mut slot = self.session.lock().await;
        if slot
            .current
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            slot.current = None;
        }
    }

    /// `getAPISession` with the login block; stores and returns the session with
    /// a human-readable description. Holds the slot's lock, so concurrent callers
    /// sign in once.
    async fn open_session(
        &self,
        slot: &mut SessionSlot,
    ) -> Result<(Session, String), ConnectorError> {
        let c = &self.config;
        let request = self.request(
            Authentication {
                sessionid: None,
                login: Some(Login {
                    userid: c.user_id.clone(),
                    companyid: c.company_id.clone(),
                    password: c.user_password.expose_secret().to_owned(),
                    locationid: non_empty(c.entity_id.as_deref()).map(str::to_owned),
                }),
            },
            vec![Function {
                controlid: "getsession".to_owned(),
                call: FunctionCall::GetApiSession(GetApiSession::default()),
            }],
            false,
        );
        let op = match self.send(&c.endpoint_url, &request).await? {
            Sent::Done(op) => op,
            Sent::AuthFailed(message) => {
                return Err(ConnectorError::Auth {
                    system: SYSTEM,
                    message: format!(
                        "Intacct refused the sign-in of user '{}' at company '{}'{} ({message}). \
                         Check the company ID, user ID and user password, and that the user is a \
                         Web Services user",
                        c.user_id,
                        c.company_id,
                        c.entity_id
                            .as_deref()
                            .map(|e| format!(" (entity {e})"))
                            .unwrap_or_default()
                    ),
                });
            }
        };
        let auth = op.authentication;
        let result = op
            .result
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::Protocol {
                system: SYSTEM,
                message: "getAPISession returned no <result>".to_owned(),
            })?;
        if result.status != Status::Success {
            let text = result.errormessage.unwrap_or_default().joined();
            return Err(ConnectorError::Auth {
                system: SYSTEM,
                message: format!("Intacct refused to open an API session: {text}"),
            });
        }
        let api = result
            .data
            .and_then(|d| d.api)
            .ok_or_else(|| ConnectorError::Protocol {
                system: SYSTEM,
                message: "getAPISession returned no <api> block".to_owned(),
            })?;
        if api.sessionid.trim().is_empty() {
            return Err(ConnectorError::Protocol {
                system: SYSTEM,
                message: "getAPISession returned an empty session id".to_owned(),
            });
        }
        let expires_at = auth
            .sessiontimeout
            .as_deref()
            .and_then(parse_session_timestamp);
        slot.generations += 1;
        let session = Session {
            id: SecretString::from(api.sessionid.trim().to_owned()),
            endpoint: choose_endpoint(&c.endpoint_url, &api.endpoint),
            expires_at,
            generation: slot.generations,
        };
        slot.current = Some(session.clone());

        let entity = non_empty(api.locationid.as_deref())
            .or(non_empty(auth.locationid.as_deref()))
            .map(|e| format!("entity {e}"))
            .unwrap_or_else(|| "top level".to_owned());
        let until = expires_at
            .map(|t| {
                format!(
                    ", session valid until {}",
                    t.to_offset(time::UtcOffset::UTC)
                        .format(time::macros::format_description!(
                            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                        ))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let detail = format!(
            "signed in as {} at {} ({entity}){until}",
            auth.userid.as_deref().unwrap_or(&c.user_id),
            auth.companyid.as_deref().unwrap_or(&c.company_id),
        );
        Ok((session, detail))
    }

    async fn send_with_session(
        &self,
        session: &Session,
        functions: &[Function],
        unique: bool,
    ) -> Result<Sent, ConnectorError> {
        let request = self.request(
            Authentication {
                sessionid: Some(session.id.expose_secret().to_owned()),
                login: None,
            },
            functions.to_vec(),
            unique,
        );
        let sent = self.send(&session.endpoint, &request).await?;
        if let Sent::Done(op) = &sent {
            // The timeout slides with every call.
            if let Some(t) = op
                .authentication
                .sessiontimeout
                .as_deref()
                .and_then(parse_session_timestamp)
            {
                let mut slot = self.session.lock().await;
                if let Some(s) = slot
                    .current
                    .as_mut()
                    .filter(|s| s.generation == session.generation)
                {
                    s.expires_at = Some(t);
                }
            }
        }
        Ok(sent)
    }

    fn request(
        &self,
        authentication: Authentication,
        function: Vec<Function>,
        unique: bool,
    ) -> Request {
        Request {
            control: Control {
                senderid: self.config.sender_id.clone(),
                password: self.config.sender_password.expose_secret().to_owned(),
                controlid: format!("clarity-{}", uuid::Uuid::now_v7()),
                uniqueid: Some(unique),
                dtdversion: DTD_VERSION.to_owned(),
                includewhitespace: Some(false),
            },
            operation: Operation {
                transaction: None,
                authentication,
                content: Content { function },
            },
        }
    }

    /// One HTTP request; classifies everything up to the authentication block.
    async fn send(&self, url: &str, request: &Request) -> Result<Sent, ConnectorError> {
        let body = request.to_xml().map_err(|e| ConnectorError::Protocol {
            system: SYSTEM,
            message: format!("cannot write the request: {e}"),
        })?;
        let _permit = self.gate.admit(SYSTEM).await?;
        let started = std::time::Instant::now();
        let mut builder = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(body);
        if let Some(t) = self.request_timeout {
            builder = builder.timeout(t);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error(SYSTEM, e, started.elapsed()))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers().get(reqwest::header::RETRY_AFTER));
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(SYSTEM, e, started.elapsed()))?;
        let parsed = if text.trim_start().starts_with('<') {
            Response::from_xml(&text).ok()
        } else {
            None
        };
        let gateway_text = parsed
            .as_ref()
            .and_then(|r| r.errormessage.as_ref())
            .map(|em| em.joined())
            .unwrap_or_default();

        if status.as_u16() == 429 {
            return Err(classify::limit_error(&gateway_text, retry_after));
        }
        if status.is_server_error() {
            // Mid-process failures come without XML (spec §1). 524 means the CDN
            // gave up while Intacct may still be working: the caller resolves a
            // write by its control id, never by blind repetition.
            return Err(ConnectorError::Server {
                system: SYSTEM,
                status: status.as_u16(),
                message: if gateway_text.is_empty() {
                    format!("HTTP {status} without an XML body")
                } else {
                    gateway_text
                },
            });
        }
        if !status.is_success() {
            let em = parsed.as_ref().and_then(|r| r.errormessage.clone());
            return Err(match em {
                Some(em)
                    if status.as_u16() == 401
                        || status.as_u16() == 403
                        || em.has_errno(errno::SIGN_IN_INCORRECT)
                        || em.has_errno(errno::NOT_AUTHORIZED) =>
                {
                    classify::control_failure(&em, &self.config.sender_id)
                }
                Some(em) => ConnectorError::Refused {
                    system: SYSTEM,
                    message: format!("HTTP {status}: {}", em.joined()),
                },
                None if status.as_u16() == 401 || status.as_u16() == 403 => ConnectorError::Auth {
                    system: SYSTEM,
                    message: format!("HTTP {status} from the gateway"),
                },
                None => ConnectorError::Refused {
                    system: SYSTEM,
                    message: format!("HTTP {status} from the gateway"),
                },
            });
        }
        let response = parsed.ok_or_else(|| ConnectorError::Protocol {
            system: SYSTEM,
            message: format!(
                "the gateway answered HTTP {status} with something that is not an Intacct response"
            ),
        })?;
        if response.control.status != Status::Success {
            return Err(classify::control_failure(
                &response.errormessage.unwrap_or_default(),
                &self.config.sender_id,
            ));
        }
        let op = response.operation.ok_or_else(|| ConnectorError::Protocol {
            system: SYSTEM,
            message: "the response has no <operation>".to_owned(),
        })?;
        if op.authentication.status != Status::Success {
            let text = op
                .errormessage
                .as_ref()
                .map(|em| em.joined())
                .unwrap_or_else(|| "authentication failed".to_owned());
            return Ok(Sent::AuthFailed(text));
        }
        Ok(Sent::Done(op))
    }
}

/// Intacct returns the endpoint to use with a session. Accept it only when it
/// stays on the configured host or is Intacct's own HTTPS domain, so that a
/// response can never steer the session (and later passwords) elsewhere.
fn choose_endpoint(configured: &str, returned: &str) -> String {
    let (Ok(conf), Ok(ret)) = (
        reqwest::Url::parse(configured),
        reqwest::Url::parse(returned.trim()),
    ) else {
        return configured.to_owned();
    };
    let same_origin = conf.scheme() == ret.scheme()
        && conf.host_str() == ret.host_str()
        && conf.port_or_known_default() == ret.port_or_known_default();
    let intacct = ret.scheme() == "https"
        && ret
            .host_str()
            .is_some_and(|h| h == "intacct.com" || h.ends_with(".intacct.com"));
    if same_origin || intacct {
        ret.to_string()
    } else {
        tracing::warn!(endpoint = %returned, "ignoring a session endpoint on another host");
        configured.to_owned()
    }
}

fn first_docid(data: &ResultData, transaction_type: &str) -> Option<String> {
    data.sodocuments.iter().find_map(|d| {
        non_empty(d.docid.as_deref())
            .map(str::to_owned)
            .or_else(|| non_empty(d.docno.as_deref()).map(|no| format!("{transaction_type}-{no}")))
    })
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The gateway accepts 1–256 characters (spec §2).
fn validate_control_id(control_id: &str) -> Result<(), ConnectorError> {
    let n = control_id.chars().count();
    if n == 0 || n > 256 {
        return Err(ConnectorError::Validation {
            system: SYSTEM,
            field: Some("controlid".to_owned()),
            message: format!("a function control id must be 1 to 256 characters, not {n}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_endpoint_must_stay_on_the_configured_host_or_intacct() {
        let conf = "http://127.0.0.1:8080/sandbox/intacct/p1/ia/xml/xmlgw.phtml";
        assert_eq!(
            choose_endpoint(
                conf,
                "http://127.0.0.1:8080/sandbox/intacct/p1/ia/xml/xmlgw.phtml?x=1"
            ),
            "http://127.0.0.1:8080/sandbox/intacct/p1/ia/xml/xmlgw.phtml?x=1"
        );
        assert_eq!(choose_endpoint(conf, "http://evil.example/steal"), conf);
        assert_eq!(
            choose_endpoint(
                "https://api.intacct.com/ia/xml/xmlgw.phtml",
                "https://na12.intacct.com/ia/xml/xmlgw.phtml"
            ),
            "https://na12.intacct.com/ia/xml/xmlgw.phtml"
        );
        assert_eq!(
            choose_endpoint(
                "https://api.intacct.com/ia/xml/xmlgw.phtml",
                "http://na12.intacct.com/ia/xml/xmlgw.phtml"
            ),
            "https://api.intacct.com/ia/xml/xmlgw.phtml"
        );
    }

    #[test]
    fn control_ids_are_bounded() {
        assert!(validate_control_id("").is_err());
        assert!(validate_control_id(&"x".repeat(257)).is_err());
        assert!(validate_control_id("clarity-order-CO-1-create-v1").is_ok());
    }

    #[test]
    fn docid_falls_back_to_definition_and_number() {
        let data = ResultData {
            sodocuments: vec![super::super::wire::SoDocumentRecord {
                docno: Some("CO-7".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            first_docid(&data, "Sales Order").as_deref(),
            Some("Sales Order-CO-7")
        );
    }
}
