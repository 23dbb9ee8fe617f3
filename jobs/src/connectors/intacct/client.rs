//! The Intacct connector's core: sessions, the request envelope, and the batch
//! call every other call goes through ([`IntacctClient::batch`]). The writes
//! live in [`super::writes`], the reads and paging in [`super::reads`].
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
//! - **Batches** (spec §2, §4): up to [`MAX_FUNCTIONS_PER_REQUEST`] functions per
//!   request, optionally `transaction="true"`; one outcome per function.
//! - **Errors** map onto [`ConnectorError`] in [`super::classify`]; no retry loop
//!   lives here (the flows own retries and backoff).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::connectors::http::transport_error;
use crate::connectors::{CallGate, ConnectorError, System, parse_retry_after};

use super::classify;
use super::coalesce::Coalescer;
use super::element::Element;
use super::functions::{ApiFunction, Done, protocol, status_of};
use super::wire::{DTD_VERSION, ErrorMessage, Status, errno, parse_session_timestamp};

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
    /// Writes of concurrent callers, sent together.
    writes: Arc<Coalescer>,
    /// The company's time zone, in which Intacct writes its zone-less
    /// timestamps (UTC unless the connection names one).
    zone: jiff::tz::TimeZone,
}

/// The time zone an IANA name (`America/New_York`) stands for; empty is UTC.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    match name.trim() {
        "" | "UTC" => Ok(jiff::tz::TimeZone::UTC),
        name => jiff::tz::TimeZone::get(name)
            .map_err(|_| format!("`{name}` is not an IANA time zone (e.g. America/New_York)")),
    }
}

/// Writes per shared request, by default (see [`IntacctClient::with_write_batch`]).
pub const WRITE_BATCH: usize = 50;

/// Requests at once per company (spec §9).
pub const CONCURRENT_REQUESTS: usize = 2;

/// Functions per request (spec §9: no documented cap; the simulator and this
/// connector keep to 100).
pub const MAX_FUNCTIONS_PER_REQUEST: usize = 100;

/// What one sent request came back as, once the control block succeeded.
pub(crate) enum Sent {
    Done(Answer),
    /// The authentication block failed; no function ran.
    AuthFailed(String),
}

/// A response whose control and authentication blocks succeeded.
pub(crate) struct Answer {
    pub authentication: Element,
    /// One `<result>` per function, in order.
    pub results: Vec<Element>,
}

/// How the functions of one request run (spec §2, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchMode {
    /// `transaction="true"`: all or nothing.
    pub transaction: bool,
}

impl IntacctClient {
    pub fn new(config: IntacctConfig, http: reqwest::Client, gate: Arc<dyn CallGate>) -> Self {
        Self {
            http,
            config: Arc::new(config),
            gate,
            session: Arc::new(tokio::sync::Mutex::new(SessionSlot::default())),
            request_timeout: None,
            writes: Arc::new(Coalescer::new(WRITE_BATCH, CONCURRENT_REQUESTS)),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// The company's time zone (see [`time_zone`]).
    pub fn with_time_zone(mut self, zone: jiff::tz::TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// An Intacct timestamp (`MM/DD/YYYY HH:MM:SS`, the company's local
    /// time) as the instant it is, in ms since the epoch.
    pub fn instant_of(&self, timestamp: &str) -> Option<i64> {
        let naive = super::wire::parse_timestamp(timestamp)?;
        let civil = jiff::Timestamp::from_millisecond(naive)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .datetime();
        let zoned = civil.to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }

    /// An instant as Intacct writes it for this company.
    pub fn timestamp_of(&self, ms: i64) -> String {
        let local = jiff::Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned(self.zone.clone()).datetime())
            .and_then(|civil| civil.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map_or(ms, |z| z.timestamp().as_millisecond());
        super::wire::format_timestamp(local)
    }

    /// Writes of concurrent callers share requests of up to `max` functions
    /// (1: each write its own request).
    pub fn with_write_batch(mut self, max: usize) -> Self {
        self.writes = Arc::new(Coalescer::new(max, CONCURRENT_REQUESTS));
        self
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

    /// Sends functions in one request and returns one outcome per function, in
    /// order (spec §4). Writes go with `<uniqueid>true</uniqueid>`, so a batch
    /// repeated after an unknown outcome is refused function by function and
    /// each refused write is resolved to the record it created. With
    /// `transaction`, one failure rolls back the whole batch: the failing
    /// function reports its own error, the others that they were rolled back.
    ///
    /// The outer error is for the request as a whole (transport, limits,
    /// credentials); function failures are the inner ones. At most
    /// [`MAX_FUNCTIONS_PER_REQUEST`] functions.
    pub async fn batch(
        &self,
        functions: &[ApiFunction],
        mode: BatchMode,
    ) -> Result<Vec<Result<Done, ConnectorError>>, ConnectorError> {
        if functions.is_empty() {
            return Ok(Vec::new());
        }
        if functions.len() > MAX_FUNCTIONS_PER_REQUEST {
            return Err(ConnectorError::Validation {
                system: SYSTEM,
                field: Some("content.function".to_owned()),
                message: format!(
                    "a request may hold at most {MAX_FUNCTIONS_PER_REQUEST} functions, not {}",
                    functions.len()
                ),
            });
        }
        for f in functions {
            validate_control_id(&f.controlid)?;
        }
        let unique = functions.iter().any(|f| f.write);
        let results = self.call(functions, unique, mode.transaction).await?;
        if results.len() != functions.len() {
            return Err(protocol(format!(
                "sent {} functions, got {} <result>s",
                functions.len(),
                results.len()
            )));
        }
        let failed_at = functions
            .iter()
            .zip(&results)
            .position(|(_, r)| status_of(r) == Status::Failure);
        let mut out = Vec::with_capacity(functions.len());
        for (f, r) in functions.iter().zip(&results) {
            out.push(self.outcome(f, r, failed_at.map(|i| &functions[i])).await);
        }
        Ok(out)
    }

    /// One function's outcome, resolving a refused repeat of a write.
    async fn outcome(
        &self,
        f: &ApiFunction,
        result: &Element,
        failed: Option<&ApiFunction>,
    ) -> Result<Done, ConnectorError> {
        match status_of(result) {
            Status::Success => Ok(Done::from_result(&f.controlid, result)),
            Status::Aborted => Err(ConnectorError::Refused {
                system: SYSTEM,
                message: format!(
                    "{}: rolled back with its transaction because {} failed",
                    f.record,
                    failed
                        .map(|x| format!("function '{}' ({})", x.controlid, x.record))
                        .unwrap_or_else(|| "another function".to_owned())
                ),
            }),
            _ => {
                let em = error_message(result);
                if f.write && classify::already_processed(&em, &f.controlid) {
                    return self.resolve(f, &em).await;
                }
                Err(classify::function_failure(&em, f))
            }
        }
    }

    /// Sends one function and returns its outcome.
    pub(crate) async fn call_one(&self, function: ApiFunction) -> Result<Done, ConnectorError> {
        if function.write && self.writes.max > 1 {
            return self
                .writes
                .run(function, |functions: Vec<ApiFunction>| async move {
                    self.batch(&functions, BatchMode::default()).await
                })
                .await;
        }
        self.batch(std::slice::from_ref(&function), BatchMode::default())
            .await?
            .pop()
            .ok_or_else(|| protocol("no <result> for the function"))?
    }

    /// Sends functions with the session, re-signing in once if needed, and
    /// returns their `<result>`s.
    pub(crate) async fn call(
        &self,
        functions: &[ApiFunction],
        unique: bool,
        transaction: bool,
    ) -> Result<Vec<Element>, ConnectorError> {
        let session = self.session().await?;
        match self
            .send_with_session(&session, functions, unique, transaction)
            .await?
        {
            Sent::Done(answer) => return Ok(answer.results),
            Sent::AuthFailed(message) => {
                tracing::info!(%message, "intacct session refused; signing in again");
            }
        }
        let session = self.renew_session(session.generation).await?;
        match self
            .send_with_session(&session, functions, unique, transaction)
            .await?
        {
            Sent::Done(answer) => Ok(answer.results),
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
        let login = Element::new("login")
            .child(Element::leaf("userid", &c.user_id))
            .child(Element::leaf("companyid", &c.company_id))
            .child(Element::leaf("password", c.user_password.expose_secret()))
            .opt_leaf("locationid", non_empty(c.entity_id.as_deref()));
        let function = Element::new("function")
            .attr("controlid", "getsession")
            .child(Element::new("getAPISession"));
        let request = self.request(login, vec![function], false, false);
        let answer = match self.send(&c.endpoint_url, &request).await? {
            Sent::Done(answer) => answer,
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
        let auth = &answer.authentication;
        let result = answer
            .results
            .first()
            .ok_or_else(|| protocol("getAPISession returned no <result>"))?;
        if status_of(result) != Status::Success {
            let text = error_message(result).joined();
            return Err(ConnectorError::Auth {
                system: SYSTEM,
                message: format!("Intacct refused to open an API session: {text}"),
            });
        }
        let api = result
            .find("data")
            .and_then(|d| d.find("api"))
            .ok_or_else(|| protocol("getAPISession returned no <api> block"))?;
        let session_id = api.child_text("sessionid").unwrap_or("").trim();
        if session_id.is_empty() {
            return Err(protocol("getAPISession returned an empty session id"));
        }
        let expires_at = auth
            .child_text("sessiontimeout")
            .and_then(parse_session_timestamp);
        slot.generations += 1;
        let session = Session {
            id: SecretString::from(session_id.to_owned()),
            endpoint: choose_endpoint(&c.endpoint_url, api.child_text("endpoint").unwrap_or("")),
            expires_at,
            generation: slot.generations,
        };
        slot.current = Some(session.clone());

        // The description is shown to people: who we signed in as comes from
        // our own settings, and the entity from the answer only when it reads
        // as an id (it is the peer's text).
        let entity = non_empty(api.child_text("locationid"))
            .or(non_empty(auth.child_text("locationid")))
            .filter(|e| {
                e.len() <= 40
                    && e.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
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
            c.user_id, c.company_id
        );
        Ok((session, detail))
    }

    async fn send_with_session(
        &self,
        session: &Session,
        functions: &[ApiFunction],
        unique: bool,
        transaction: bool,
    ) -> Result<Sent, ConnectorError> {
        let request = self.request(
            Element::leaf("sessionid", session.id.expose_secret()),
            functions.iter().map(ApiFunction::element).collect(),
            unique,
            transaction,
        );
        let sent = self.send(&session.endpoint, &request).await?;
        if let Sent::Done(answer) = &sent {
            // The timeout slides with every call.
            if let Some(t) = answer
                .authentication
                .child_text("sessiontimeout")
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

    /// The request envelope (spec §2), elements in DTD order.
    fn request(
        &self,
        credential: Element,
        functions: Vec<Element>,
        unique: bool,
        transaction: bool,
    ) -> Element {
        let control = Element::new("control")
            .child(Element::leaf("senderid", &self.config.sender_id))
            .child(Element::leaf(
                "password",
                self.config.sender_password.expose_secret(),
            ))
            .child(Element::leaf(
                "controlid",
                format!("clarity-{}", uuid::Uuid::now_v7()),
            ))
            .child(Element::leaf("uniqueid", unique.to_string()))
            .child(Element::leaf("dtdversion", DTD_VERSION))
            .child(Element::leaf("includewhitespace", "false"));
        let mut content = Element::new("content");
        content.children = functions;
        let mut operation = Element::new("operation");
        if transaction {
            operation = operation.attr("transaction", "true");
        }
        Element::new("request").child(control).child(
            operation
                .child(Element::new("authentication").child(credential))
                .child(content),
        )
    }

    /// One HTTP request; classifies everything up to the authentication block.
    async fn send(&self, url: &str, request: &Element) -> Result<Sent, ConnectorError> {
        let body = request.to_document();
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
            Element::parse(&text).ok().filter(|r| r.name == "response")
        } else {
            None
        };
        let gateway_em = parsed.as_ref().map(error_message);
        let gateway_text = gateway_em
            .as_ref()
            .map(ErrorMessage::joined)
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
            let em = gateway_em.filter(|em| !em.error.is_empty());
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
        let response = parsed.ok_or_else(|| {
            protocol(format!(
                "the gateway answered HTTP {status} with something that is not an Intacct response"
            ))
        })?;
        let control_ok = response
            .find("control")
            .map(status_of)
            .is_some_and(|s| s == Status::Success);
        if !control_ok {
            return Err(classify::control_failure(
                &error_message(&response),
                &self.config.sender_id,
            ));
        }
        let op = response
            .find("operation")
            .ok_or_else(|| protocol("the response has no <operation>"))?;
        let authentication = op
            .find("authentication")
            .cloned()
            .ok_or_else(|| protocol("the response has no <authentication>"))?;
        if status_of(&authentication) != Status::Success {
            let text = error_message(op).joined();
            return Ok(Sent::AuthFailed(if text.is_empty() {
                "authentication failed".to_owned()
            } else {
                text
            }));
        }
        Ok(Sent::Done(Answer {
            authentication,
            results: op.find_all("result").cloned().collect(),
        }))
    }
}

/// The `<errormessage>` directly under an element, as the typed error list.
pub(crate) fn error_message(el: &Element) -> ErrorMessage {
    el.find("errormessage")
        .and_then(|em| em.deserialize::<ErrorMessage>().ok())
        .unwrap_or_default()
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

pub(crate) fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The gateway accepts 1–256 characters (spec §2).
pub(crate) fn validate_control_id(control_id: &str) -> Result<(), ConnectorError> {
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
    fn timestamps_are_read_and_written_in_the_companys_zone() {
        let client = |zone: &str| {
            IntacctClient::new(
                IntacctConfig {
                    endpoint_url: "http://127.0.0.1:1/".into(),
                    sender_id: String::new(),
                    sender_password: SecretString::from(String::new()),
                    company_id: String::new(),
                    user_id: String::new(),
                    user_password: SecretString::from(String::new()),
                    entity_id: None,
                },
                crate::connectors::http::client(Default::default()),
                Arc::new(crate::connectors::OpenGate),
            )
            .with_time_zone(time_zone(zone).unwrap())
        };
        let ny = client("America/New_York");
        // 10:00 in New York is 15:00 UTC in winter and 14:00 in summer.
        let winter = ny.instant_of("01/15/2026 10:00:00").unwrap();
        let summer = ny.instant_of("07/15/2026 10:00:00").unwrap();
        assert_eq!(winter, 1_768_489_200_000);
        assert_eq!(summer, 1_784_124_000_000);
        assert_eq!(ny.timestamp_of(winter), "01/15/2026 10:00:00");
        assert_eq!(ny.timestamp_of(summer), "07/15/2026 10:00:00");
        let utc = client("");
        assert_eq!(
            utc.instant_of("01/15/2026 15:00:00"),
            Some(winter),
            "UTC unless told"
        );
        assert!(time_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }

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
}
