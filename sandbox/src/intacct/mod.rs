//! The Sage Intacct XML gateway simulator, one company per sandbox pair, at
//! `POST /sandbox/intacct/{pair_id}/ia/xml/xmlgw.phtml`. Written from
//! `shared/specs/sage-intacct.md`; the choices the spec leaves open (**[P]**)
//! are written down where they are made. Reading order:
//!
//! 1. [`gateway`] (this file): HTTP, faults, the per-company concurrency limit,
//!    the envelope (control → authentication → functions) and the response.
//! 2. [`sales`]: `create_sotransaction` / `update_sotransaction` and the
//!    sales-order listing for the API.
//!    [`adjustments`]: `create_aradjustment` (AR credit and debit memos).
//! 3. [`generic`]: `read`, `readByName`, `readByQuery`, `readMore`, `query`,
//!    `create`, `update`, `delete` over the objects in [`objects`].
//! 4. [`query`]: the query-string parser and the filter grammar.
//! 5. [`store`]: the `sim_intacct_*` tables; [`seed`]: the starting company.
//! 6. [`wire`]: the request blocks, error numbers and formats, the simulator's
//!    own reading of the spec (not the connector's).
//!
//! Decisions:
//! - A missing `uniqueid` counts as `true` (the documented default, spec §2).
//!   Under `uniqueid=true` a function's control id is claimed in the same database
//!   transaction as its effects; a repeated id fails with `SIM_DUPLICATE_CONTROLID`.
//!   A function that fails releases its claim (only completed ones are refused).
//! - The company is multi-entity (US-EAST, US-WEST): an order line without
//!   `locationid` fails, unless the session is entity-level, in which case the
//!   line takes the session's entity.
//! - Business failures use the spec's error numbers where it gives one
//!   (BL01001973 duplicate, XL03000010 unknown field, `Query Failed`, XL03000009
//!   rollback) and placeholders prefixed `SIM_` where the real ones are
//!   undocumented, with messages that name the field and the value.
//! - An unknown function element fails DTD validation: a control-level
//!   XL03000003 (spec §7), so nothing runs.
//! - Scripted faults that need the request read are answered where Intacct
//!   answers them ([`faults_in_place`]).
//! - `Timeout` faults do the work and commit, then hold the answer.
//! - Sage's published SDKs must work unmodified (`tests/intacct_sdk.rs`): the
//!   session endpoint names the host the client called (the JS SDK refuses
//!   any host outside `*.intacct.com`), and error texts quote element names
//!   instead of writing `<tags>`, which the SDK strips out of messages.

pub mod adjustments;
mod faults_in_place;
pub mod fields;
pub mod generic;
pub mod objects;
pub mod query;
pub mod sales;
pub mod seed;
pub mod store;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use super::faults::FaultKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
/// The one thing shared with the connector: a bounded, generic XML element
/// tree (names, attributes, text, children; a depth limit for untrusted
/// input). It knows nothing of Intacct's elements, envelopes or formats, so it
/// cannot carry a misreading of the spec from one side to the other; the
/// simulator's answers vary by object, which an element tree writes best.
pub(crate) use connect_jobs::connectors::intacct::element::Element;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::wire::{Control, ErrorDetail, GetApiSession, Login, errno, format_session_timestamp};
use super::{SandboxCredentials, SandboxState, SimSystem};
use connect_store::{Db, now_ms};

pub use sales::list_sales_orders;
pub use seed::seed;

/// Knobs of the simulator that are not per-pair faults.
#[derive(Clone)]
pub struct SimConfig {
    /// Sliding session lifetime (spec §3.2: default 2 h).
    pub session_ttl: Duration,
    /// How long a request waits for a concurrency slot before HTTP 429 (spec §9).
    pub queue_wait: Duration,
    /// Functions per request (spec §9: cap 100).
    pub max_functions: usize,
    /// Unused `readByQuery` cursors expire after this (spec §5.1).
    pub result_set_ttl: Duration,
    /// The clock behind WHENCREATED/WHENMODIFIED and session times.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(2 * 3600),
            queue_wait: Duration::from_secs(30),
            max_functions: 100,
            result_set_ttl: Duration::from_secs(30 * 60),
            clock: Arc::new(now_ms),
        }
    }
}

/// Intacct's standard level of service: about two concurrent requests per company.
pub const DEFAULT_CONCURRENCY: u32 = 2;

pub struct Sim {
    pub state: SandboxState,
    pub config: SimConfig,
    /// Per pair: the limit the semaphore was built with, and the semaphore.
    slots: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Sim {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn now(&self) -> i64 {
        (self.config.clock)()
    }

    /// The gateway URL a session is tied to: the host the client called, so a
    /// client that only talks to hosts it trusts (Sage's SDKs accept
    /// `*.intacct.com` only) can keep using it; the app's own URL otherwise.
    fn endpoint(&self, pair_id: &str, host: Option<&str>) -> String {
        let own = self.state.self_url.trim_end_matches('/');
        let base = match host {
            Some(h) if is_plain_host(h) => {
                let scheme = own.split_once("://").map_or("http", |(s, _)| s);
                format!("{scheme}://{h}")
            }
            _ => own.to_owned(),
        };
        format!("{base}/sandbox/intacct/{pair_id}/ia/xml/xmlgw.phtml")
    }

    /// A concurrency slot for the pair's company, waiting at most `queue_wait`.
    async fn slot(&self, pair_id: &str) -> Result<OwnedSemaphorePermit, u32> {
        let limit = self
            .state
            .faults
            .get(&self.state.db, pair_id, SimSystem::Intacct)
            .await
            .ok()
            .and_then(|s| s.concurrency_limit)
            .unwrap_or(DEFAULT_CONCURRENCY)
            .max(1);
        let semaphore = {
            let mut slots = self.slots.lock();
            match slots.get(pair_id) {
                Some((l, s)) if *l == limit => s.clone(),
                _ => {
                    let s = Arc::new(Semaphore::new(limit as usize));
                    slots.insert(pair_id.to_owned(), (limit, s.clone()));
                    s
                }
            }
        };
        match tokio::time::timeout(self.config.queue_wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(limit),
        }
    }
}

pub fn router(state: SandboxState) -> Router {
    router_with(state, SimConfig::default())
}

pub fn router_with(state: SandboxState, config: SimConfig) -> Router {
    let sim = Arc::new(Sim {
        state,
        config,
        slots: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/{pair_id}/ia/xml/xmlgw.phtml", post(gateway))
        .with_state(sim)
}

/// Ends every API session of a pair (the "forced session expiry" fault).
pub async fn expire_sessions(state: &SandboxState, pair_id: &str) -> Result<u64, sqlx::Error> {
    let mut conn = state.db.pool().acquire().await?;
    let ended = store::expire_sessions(&mut conn, pair_id).await?;
    state.memo.intacct_sessions.forget_pair(pair_id);
    Ok(ended)
}

/// Live sessions as last read, for [`crate::MEMO_TTL`]: most calls of a
/// session only read it. A session whose timeout is due to slide, or that
/// has expired, goes back to the database.
#[derive(Default)]
pub struct SessionMemo {
    sessions: Mutex<HashMap<String, (std::time::Instant, String, store::SessionRow)>>,
}

impl SessionMemo {
    fn get(
        &self,
        session_id: &str,
        pair_id: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Option<store::SessionRow> {
        let sessions = self.sessions.lock();
        let (at, pair, row) = sessions.get(session_id)?;
        (at.elapsed() < crate::MEMO_TTL
            && pair == pair_id
            && row.expires_at > now
            && now + ttl_ms - row.expires_at < store::SESSION_SLIDE_MS)
            .then(|| row.clone())
    }

    fn keep(&self, session_id: &str, pair_id: &str, row: &store::SessionRow) {
        let mut sessions = self.sessions.lock();
        if sessions.len() >= crate::MEMO_KEPT {
            sessions.clear();
        }
        sessions.insert(
            session_id.to_owned(),
            (std::time::Instant::now(), pair_id.to_owned(), row.clone()),
        );
    }

    fn forget_pair(&self, pair_id: &str) {
        self.sessions
            .lock()
            .retain(|_, (_, pair, _)| pair != pair_id);
    }
}

// ---------------------------------------------------------------------------
// Function outcomes
// ---------------------------------------------------------------------------

/// A function-level failure: the `<error>`s of its `<result>`.
#[derive(Debug, Clone)]
pub struct Fail(pub Vec<ErrorDetail>);

impl Fail {
    pub fn new(errorno: &str, description: &str, description2: &str, correction: &str) -> Self {
        Fail(vec![ErrorDetail {
            errorno: Some(errorno.to_owned()),
            description: Some(description.to_owned()),
            description2: Some(description2.to_owned()),
            correction: Some(correction.to_owned()),
        }])
    }

    pub fn and(mut self, other: Fail) -> Self {
        self.0.extend(other.0);
        self
    }
}

/// Why a function did not produce a result.
#[derive(Debug)]
pub enum FnError {
    /// A business failure, reported inside HTTP 200.
    Fail(Fail),
    /// The simulator itself failed: answered like a mid-process failure (5xx, no XML).
    Db(sqlx::Error),
}

impl From<Fail> for FnError {
    fn from(f: Fail) -> Self {
        FnError::Fail(f)
    }
}

impl From<sqlx::Error> for FnError {
    fn from(e: sqlx::Error) -> Self {
        FnError::Db(e)
    }
}

/// What a successful function adds to its `<result>` (a `<key>`, a `<data>`),
/// and how many API transactions it counts for (spec §9).
pub struct Done {
    pub elements: Vec<Element>,
    pub usage: i64,
}

pub type FnResult = Result<Done, FnError>;

/// Who is calling, once authenticated.
pub struct Ctx<'a> {
    pub sim: &'a Sim,
    pub pair_id: &'a str,
    pub company_id: &'a str,
    /// The session's entity, when it is entity-level.
    pub location_id: Option<&'a str>,
    pub now: i64,
    /// Active records a reference check found during the current function,
    /// by (object, id): a sales order names its item, location and
    /// warehouse when it is checked and again when it is written, and the
    /// function changes none of them in between. Emptied before each
    /// function, which may change any record.
    pub refs: parking_lot::Mutex<std::collections::HashMap<(String, String), store::Record>>,
}

// ---------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------

/// A Host header that is a host name or address with an optional port, nothing else.
fn is_plain_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

async fn gateway(
    State(sim): State<Arc<Sim>>,
    Path(pair_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    // The slot is taken first, so injected latency occupies it like slow work would.
    let permit = match sim.slot(&pair_id).await {
        Ok(p) => p,
        Err(limit) => {
            return concurrency_limited(&sim, limit);
        }
    };
    let fate = sim
        .state
        .faults
        .before_call(&sim.state.db, &pair_id, SimSystem::Intacct, None)
        .await;
    match fate.decision {
        super::FaultDecision::Error => {
            // A mid-process failure: 5xx and no XML (spec §1).
            StatusCode::BAD_GATEWAY.into_response()
        }
        super::FaultDecision::RateLimited { retry_after_s } => rate_limited(retry_after_s),
        super::FaultDecision::Timeout { hang }
        | super::FaultDecision::Scripted {
            kind: FaultKind::Timeout,
            hang,
        } => {
            let response = handle(&sim, &pair_id, host, &body).await;
            drop(permit);
            tokio::time::sleep(hang).await;
            response
        }
        super::FaultDecision::Scripted { kind, .. } => match kind {
            FaultKind::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            FaultKind::Unavailable => StatusCode::BAD_GATEWAY.into_response(),
            // Cloudflare's "a timeout occurred" in front of the gateway.
            FaultKind::GatewayTimeout => StatusCode::from_u16(524)
                .expect("524 is a valid status")
                .into_response(),
            FaultKind::Reset => super::faults::reset_response(),
            FaultKind::RateLimited => rate_limited(1),
            FaultKind::ConcurrencyLimit => concurrency_limited(&sim, DEFAULT_CONCURRENCY),
            _ => handle_with_fault(&sim, &pair_id, host, &body, Some(kind)).await,
        },
        super::FaultDecision::Proceed => handle(&sim, &pair_id, host, &body).await,
    }
}

fn rate_limited(retry_after_s: u64) -> Response {
    gateway_error(
        StatusCode::TOO_MANY_REQUESTS,
        errno::RATE_LIMITED,
        "Rate limit exceeded: too many API requests for this company. Use backoff and avoid tight polling.",
        Some(retry_after_s),
    )
}

fn concurrency_limited(sim: &Sim, limit: u32) -> Response {
    gateway_error(
        StatusCode::TOO_MANY_REQUESTS,
        errno::RATE_LIMITED,
        &format!(
            "Too many concurrent requests for this company (limit {limit}); the request \
             waited {} s for a slot. Try again later.",
            sim.config.queue_wait.as_secs_f64()
        ),
        Some(1),
    )
}

fn xml_response(status: StatusCode, doc: &Element) -> Response {
    let mut resp = (status, doc.to_document()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=UTF-8"),
    );
    resp
}

/// A gateway-level error: control `failure` with no sender or control id (spec §7).
fn gateway_error(
    status: StatusCode,
    code: &str,
    description: &str,
    retry_after_s: Option<u64>,
) -> Response {
    let doc = Element::new("response")
        .child(Element::new("control").child(Element::leaf("status", "failure")))
        .child(errormessage(&[ErrorDetail {
            errorno: Some(code.to_owned()),
            description: Some(format!(
                "{description} [Request ID: {}]",
                uuid::Uuid::now_v7().simple()
            )),
            description2: None,
            correction: None,
        }]));
    let mut resp = xml_response(status, &doc);
    if let Some(s) = retry_after_s {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

pub fn errormessage(errors: &[ErrorDetail]) -> Element {
    let mut em = Element::new("errormessage");
    for e in errors {
        em.push(
            Element::new("error")
                .child(Element::leaf(
                    "errorno",
                    e.errorno.clone().unwrap_or_default(),
                ))
                .child(Element::leaf(
                    "description",
                    e.description.clone().unwrap_or_default(),
                ))
                .child(Element::leaf(
                    "description2",
                    e.description2.clone().unwrap_or_default(),
                ))
                .child(Element::leaf(
                    "correction",
                    e.correction.clone().unwrap_or_default(),
                )),
        );
    }
    em
}

/// The request's control block as far as it could be read, for echoing.
struct ControlEcho {
    senderid: String,
    controlid: String,
    uniqueid: bool,
    dtdversion: String,
}

impl ControlEcho {
    fn element(&self, status: &str) -> Element {
        Element::new("control")
            .child(Element::leaf("status", status))
            .child(Element::leaf("senderid", &self.senderid))
            .child(Element::leaf("controlid", &self.controlid))
            .child(Element::leaf("uniqueid", self.uniqueid.to_string()))
            .child(Element::leaf("dtdversion", &self.dtdversion))
    }

    fn failure(&self, error: ErrorDetail) -> Response {
        let doc = Element::new("response")
            .child(self.element("failure"))
            .child(errormessage(&[error]));
        xml_response(StatusCode::OK, &doc)
    }
}

fn detail(errorno: &str, description: &str, description2: &str, correction: &str) -> ErrorDetail {
    ErrorDetail {
        errorno: Some(errorno.to_owned()),
        description: Some(description.to_owned()),
        description2: Some(description2.to_owned()),
        correction: Some(correction.to_owned()),
    }
}

/// The control-level refusal of a sender (spec §7: XL03000006).
fn sender_refused() -> ErrorDetail {
    detail(
        errno::NOT_AUTHORIZED,
        "Invalid Web Services Authorization",
        "Incorrect Intacct XML Partner ID or password.",
        "Check the Web Services sender ID and password.",
    )
}

/// The authentication-level refusal of a login block (spec §7: XL03000006).
fn sign_in_incorrect() -> ErrorDetail {
    detail(
        errno::NOT_AUTHORIZED,
        "",
        "Sign-in information is incorrect",
        "Check the company ID, user ID and password.",
    )
}

fn xml_error(description2: &str) -> ErrorDetail {
    detail(
        errno::XML_ERROR,
        "XML error",
        description2,
        "Send a request that follows the XML gateway's DTD (dtdversion 3.0).",
    )
}

/// A simulator fault (database): answered like Intacct's mid-process failure.
fn internal(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "intacct simulator storage failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

const WRITE_FUNCTIONS: &[&str] = &[
    "create",
    "update",
    "delete",
    "create_sotransaction",
    "update_sotransaction",
    "create_aradjustment",
];

const KNOWN_FUNCTIONS: &[&str] = &[
    "getAPISession",
    "create_aradjustment",
    "create_sotransaction",
    "update_sotransaction",
    "read",
    "readByName",
    "readByQuery",
    "readMore",
    "query",
    "create",
    "update",
    "delete",
    "lookup",
    "inspect",
];

/// One request, from bytes to response.
async fn handle(sim: &Sim, pair_id: &str, host: Option<&str>, body: &[u8]) -> Response {
    handle_with_fault(sim, pair_id, host, body, None).await
}

/// One request with, possibly, a scripted fault that needs the request read
/// first (an expired session, a refused login, a failing function).
async fn handle_with_fault(
    sim: &Sim,
    pair_id: &str,
    host: Option<&str>,
    body: &[u8],
    fault: Option<FaultKind>,
) -> Response {
    let gateway_xml_error = |msg: &str| {
        gateway_error(
            StatusCode::OK,
            errno::XML_ERROR,
            &format!("XML error: {msg}"),
            None,
        )
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return gateway_xml_error("the request is not UTF-8");
    };
    let root = match Element::parse(text) {
        Ok(r) => r,
        Err(e) => return gateway_xml_error(&e.to_string()),
    };
    if root.name != "request" {
        return gateway_xml_error("the root element must be 'request'");
    }
    let Some(control_el) = root.find("control") else {
        return gateway_xml_error("'control' is missing");
    };
    let control: Control = match control_el.deserialize() {
        Ok(c) => c,
        Err(e) => return gateway_xml_error(&format!("'control' is invalid: {e}")),
    };
    let echo = ControlEcho {
        senderid: control.senderid.clone(),
        controlid: control.controlid.clone(),
        uniqueid: control.uniqueid.unwrap_or(true),
        dtdversion: control.dtdversion.clone(),
    };
    let control_len = control.controlid.chars().count();
    if control_len == 0 || control_len > 256 {
        return echo.failure(xml_error("control/controlid must be 1 to 256 characters."));
    }
    if control.dtdversion.trim() != wire::DTD_VERSION && control.dtdversion.trim() != "2.1" {
        return echo.failure(xml_error("dtdversion must be 3.0 or 2.1."));
    }

    // The sender must be the one this sandbox company authorized.
    let creds = match sim.state.credentials(pair_id).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let sender_ok = creds.as_ref().is_some_and(|c| {
        c.intacct_sender_id == control.senderid && c.intacct_sender_password == control.password
    });
    let Some(creds) = creds.filter(|_| sender_ok) else {
        return echo.failure(sender_refused());
    };

    // The operation and its functions.
    let Some(operation) = root.find("operation") else {
        return echo.failure(xml_error("'operation' is missing."));
    };
    let transaction = match operation.attr_value("transaction").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return echo.failure(xml_error(&format!(
                "operation/@transaction must be true or false, not '{other}'."
            )));
        }
    };
    let Some(auth_el) = operation.find("authentication") else {
        return echo.failure(xml_error("'authentication' is missing."));
    };
    let Some(content) = operation.find("content") else {
        return echo.failure(xml_error("'content' is missing."));
    };
    let mut functions: Vec<(String, &Element)> = Vec::new();
    for f in &content.children {
        if f.name != "function" {
            return echo.failure(xml_error(&format!("unexpected '{}' in 'content'.", f.name)));
        }
        let id = f.attr_value("controlid").unwrap_or("").to_owned();
        let n = id.chars().count();
        if n == 0 || n > 256 {
            return echo.failure(xml_error(
                "every 'function' needs a controlid attribute of 1 to 256 characters.",
            ));
        }
        let [call] = f.children.as_slice() else {
            return echo.failure(xml_error("a 'function' must hold exactly one call."));
        };
        if !KNOWN_FUNCTIONS.contains(&call.name.as_str()) {
            return echo.failure(xml_error(&format!("unknown function '{}'.", call.name)));
        }
        functions.push((id, call));
    }
    if functions.is_empty() {
        return echo.failure(xml_error("'content' holds no 'function'."));
    }
    if functions.len() > sim.config.max_functions {
        return echo.failure(xml_error(&format!(
            "a request may hold at most {} functions.",
            sim.config.max_functions
        )));
    }
    let wants_session = functions.iter().any(|(_, c)| c.name == "getAPISession");
    if wants_session && functions.len() > 1 {
        return echo.failure(xml_error(
            "getAPISession must be the only function in its request.",
        ));
    }

    // Scripted faults that act on the envelope (see [`faults_in_place`]).
    match fault {
        Some(FaultKind::Unauthorized) if auth_el.find("login").is_none() => {
            return echo.failure(sender_refused());
        }
        Some(FaultKind::SessionExpired) => {
            if let Err(e) = expire_sessions(&sim.state, pair_id).await {
                return internal(e);
            }
        }
        _ => {}
    }

    // Authentication (spec §3): a login block or a session id.
    let now = sim.now();
    let auth = if fault == Some(FaultKind::Unauthorized) {
        Err(AuthError::Refused {
            auth: Auth {
                user_id: String::new(),
                company_id: String::new(),
                location_id: String::new(),
                session_timeout: None,
            },
            error: sign_in_incorrect(),
        })
    } else {
        authenticate(sim, pair_id, &creds, auth_el, now).await
    };
    let auth = match auth {
        Ok(a) => a,
        Err(AuthError::Db(e)) => return internal(e),
        Err(AuthError::Xml(msg)) => return echo.failure(xml_error(&msg)),
        Err(AuthError::Refused { auth, error }) => {
            let doc = Element::new("response")
                .child(echo.element("success"))
                .child(
                    Element::new("operation")
                        .child(auth.element("failure", now))
                        .child(errormessage(&[error])),
                );
            return xml_response(StatusCode::OK, &doc);
        }
    };

    let mut auth = auth;
    let results = if wants_session {
        let (_, call) = &functions[0];
        match open_session(sim, pair_id, host, &mut auth, call, &functions[0].0, now).await {
            Ok(r) => vec![r],
            Err(e) => return internal(e),
        }
    } else {
        let injected = fault.and_then(|k| faults_in_place::function_failure(k, functions[0].1));
        match run_functions(
            sim,
            pair_id,
            &auth,
            &echo,
            &functions,
            Run {
                transaction,
                injected,
            },
            now,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return internal(e),
        }
    };
    let mut op = Element::new("operation").child(auth.element("success", now));
    for r in results {
        op.push(r);
    }
    let doc = Element::new("response")
        .child(echo.element("success"))
        .child(op);
    xml_response(StatusCode::OK, &doc)
}

/// The authenticated caller, as echoed in `<authentication>`.
struct Auth {
    user_id: String,
    company_id: String,
    location_id: String,
    session_timeout: Option<i64>,
}

impl Auth {
    fn element(&self, status: &str, now: i64) -> Element {
        let mut el = Element::new("authentication")
            .child(Element::leaf("status", status))
            .child(Element::leaf("userid", &self.user_id))
            .child(Element::leaf("companyid", &self.company_id))
            .child(Element::leaf("locationid", &self.location_id))
            .child(Element::leaf(
                "sessiontimestamp",
                format_session_timestamp(now),
            ));
        if let Some(t) = self.session_timeout {
            el.push(Element::leaf("sessiontimeout", format_session_timestamp(t)));
        }
        el
    }
}

enum AuthError {
    Db(sqlx::Error),
    Xml(String),
    Refused { auth: Auth, error: ErrorDetail },
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Db(e)
    }
}

async fn authenticate(
    sim: &Sim,
    pair_id: &str,
    creds: &SandboxCredentials,
    auth_el: &Element,
    now: i64,
) -> Result<Auth, AuthError> {
    let session_id = auth_el.child_text("sessionid");
    let login_el = auth_el.find("login");
    match (session_id, login_el) {
        (Some(sid), None) => {
            let ttl = sim.config.session_ttl.as_millis() as i64;
            let memo = &sim.state.memo.intacct_sessions;
            let session = match memo.get(sid, pair_id, now, ttl) {
                Some(s) => Some(s),
                None => {
                    let mut conn = sim.db().pool().acquire().await?;
                    let found = store::touch_session(&mut conn, sid, pair_id, now, ttl).await?;
                    if let Some(s) = &found {
                        memo.keep(sid, pair_id, s);
                    }
                    found
                }
            };
            match session {
                Some(s) => Ok(Auth {
                    user_id: s.user_id,
                    company_id: s.company_id,
                    location_id: s.location_id,
                    session_timeout: Some(s.expires_at),
                }),
                None => Err(AuthError::Refused {
                    auth: Auth {
                        user_id: String::new(),
                        company_id: String::new(),
                        location_id: String::new(),
                        session_timeout: None,
                    },
                    error: detail(
                        errno::NOT_AUTHORIZED,
                        "",
                        "Invalid session: the session ID is unknown or has expired.",
                        "Open a new session with getAPISession.",
                    ),
                }),
            }
        }
        (None, Some(login_el)) => {
            let login: Login = login_el
                .deserialize()
                .map_err(|e| AuthError::Xml(format!("'login' is invalid: {e}")))?;
            let location = login
                .locationid
                .as_deref()
                .map(str::trim)
                .unwrap_or("")
                .to_owned();
            let auth = Auth {
                user_id: login.userid.clone(),
                company_id: login.companyid.clone(),
                location_id: location.clone(),
                session_timeout: None,
            };
            let ok = login.userid.eq_ignore_ascii_case(&creds.intacct_user_id)
                && login
                    .companyid
                    .eq_ignore_ascii_case(&creds.intacct_company_id)
                && login.password == creds.intacct_user_password;
            if !ok {
                return Err(AuthError::Refused {
                    auth,
                    error: sign_in_incorrect(),
                });
            }
            if !location.is_empty() && !is_entity(sim, pair_id, &location).await? {
                return Err(AuthError::Refused {
                    auth,
                    error: detail(
                        errno::NOT_AUTHORIZED,
                        "",
                        &format!(
                            "Sign-in information is incorrect: '{location}' is not an entity of this company"
                        ),
                        "Sign in to an existing entity (location ID), or leave locationid empty.",
                    ),
                });
            }
            Ok(Auth {
                user_id: creds.intacct_user_id.clone(),
                company_id: creds.intacct_company_id.clone(),
                location_id: location,
                session_timeout: None,
            })
        }
        _ => Err(AuthError::Xml(
            "'authentication' must hold either 'sessionid' or 'login'.".to_owned(),
        )),
    }
}

async fn is_entity(sim: &Sim, pair_id: &str, location: &str) -> Result<bool, sqlx::Error> {
    let mut conn = sim.db().pool().acquire().await?;
    Ok(store::by_id(&mut conn, pair_id, "LOCATION", location)
        .await?
        .is_some_and(|r| query::lookup(&r.fields, "ENTITY").as_deref() == Some("true")))
}

/// `getAPISession` (spec §3.2): a new session at the login's level, or at the
/// entity it names (an empty `<locationid/>` means top level).
async fn open_session(
    sim: &Sim,
    pair_id: &str,
    host: Option<&str>,
    auth: &mut Auth,
    call: &Element,
    controlid: &str,
    now: i64,
) -> Result<Element, sqlx::Error> {
    let result = |status: &str| {
        Element::new("result")
            .child(Element::leaf("status", status))
            .child(Element::leaf("function", "getAPISession"))
            .child(Element::leaf("controlid", controlid))
    };
    let params: GetApiSession = call.deserialize().unwrap_or_default();
    let location = match params.locationid {
        Some(l) => l.trim().to_owned(),
        None => auth.location_id.clone(),
    };
    if !location.is_empty() && !is_entity(sim, pair_id, &location).await? {
        return Ok(result("failure").child(errormessage(&[detail(
            errno::NOT_AUTHORIZED,
            "Invalid entity",
            &format!("'{location}' is not an entity of this company."),
            "Use an existing entity (location ID), or leave locationid empty.",
        )])));
    }
    let session_id = format!("{}..", super::random_token("sim"));
    let expires_at = now + sim.config.session_ttl.as_millis() as i64;
    let row = store::SessionRow {
        company_id: auth.company_id.clone(),
        user_id: auth.user_id.clone(),
        location_id: location.clone(),
        expires_at,
    };
    let mut conn = sim.db().pool().acquire().await?;
    store::create_session(&mut conn, &session_id, pair_id, &row, now).await?;
    auth.location_id = location.clone();
    auth.session_timeout = Some(expires_at);
    Ok(result("success").child(
        Element::new("data").child(
            Element::new("api")
                .child(Element::leaf("sessionid", session_id))
                .child(Element::leaf("endpoint", sim.endpoint(pair_id, host)))
                .child(Element::leaf("locationid", location)),
        ),
    ))
}

fn result_head(status: &str, function: &str, controlid: &str) -> Element {
    Element::new("result")
        .child(Element::leaf("status", status))
        .child(Element::leaf("function", function))
        .child(Element::leaf("controlid", controlid))
}

fn failure_result(
    function: &str,
    controlid: &str,
    errors: &[ErrorDetail],
    status: &str,
) -> Element {
    let mut r = result_head(status, function, controlid);
    // A failed generic create/update still carries an empty data list (spec §4).
    if function == "create" || function == "update" {
        r.push(
            Element::new("data")
                .attr("listtype", "objects")
                .attr("count", "0"),
        );
    }
    r.child(errormessage(errors))
}

fn rolled_back() -> ErrorDetail {
    detail(
        errno::TRANSACTION_ROLLED_BACK,
        "",
        "The entire transaction in this operation has been rolled back due to an error.",
        "",
    )
}

fn duplicate_control_id(controlid: &str) -> Fail {
    Fail::new(
        errno::DUPLICATE_CONTROL_ID,
        "Duplicate control ID",
        &format!("A successful request with control ID '{controlid}' has already been processed."),
        "Use a new function control ID, or send uniqueid=false for requests that may repeat.",
    )
}

/// How a request's functions run: as one transaction or not, and with the
/// first one failed by a scripted fault.
struct Run {
    transaction: bool,
    injected: Option<Fail>,
}

/// Runs the functions one by one (each in its own database transaction), or all
/// in one transaction with `transaction="true"` (spec §4).
async fn run_functions(
    sim: &Sim,
    pair_id: &str,
    auth: &Auth,
    echo: &ControlEcho,
    functions: &[(String, &Element)],
    run: Run,
    now: i64,
) -> Result<Vec<Element>, sqlx::Error> {
    let Run {
        transaction,
        injected,
    } = run;
    let location = (!auth.location_id.is_empty()).then_some(auth.location_id.as_str());
    let ctx = Ctx {
        sim,
        pair_id,
        company_id: &auth.company_id,
        location_id: location,
        now,
        refs: Default::default(),
    };
    let mut results = Vec::with_capacity(functions.len());
    // Usage of functions that wrote is counted in their own transaction;
    // only reads' usage needs a write of its own at the end.
    let mut usage = 0;
    let period = usage_period(now);

    if transaction {
        let mut tx = sim.db().begin_write().await?;
        let mut done: Vec<(usize, Done)> = Vec::new();
        let mut failed: Option<(usize, Fail)> = None;
        for (i, (controlid, call)) in functions.iter().enumerate() {
            let outcome = match (&injected, i) {
                (Some(f), 0) => Err(FnError::Fail(f.clone())),
                _ => run_one(&ctx, &mut tx, echo, controlid, call).await,
            };
            match outcome {
                Ok(d) => done.push((i, d)),
                Err(FnError::Fail(f)) => {
                    failed = Some((i, f));
                    break;
                }
                Err(FnError::Db(e)) => return Err(e),
            }
        }
        match failed {
            None => {
                let used = done.iter().map(|(_, d)| d.usage).sum();
                store::count_usage(&mut tx, pair_id, &period, used).await?;
                tx.commit().await?;
                for (i, d) in done {
                    let (controlid, call) = &functions[i];
                    let mut r = result_head("success", &call.name, controlid);
                    r.children.extend(d.elements);
                    results.push(r);
                }
            }
            Some((failed_at, fail)) => {
                tx.rollback().await?;
                for (i, (controlid, call)) in functions.iter().enumerate() {
                    if i == failed_at {
                        let mut errors = fail.0.clone();
                        errors.push(rolled_back());
                        results.push(failure_result(&call.name, controlid, &errors, "failure"));
                    } else {
                        results.push(failure_result(
                            &call.name,
                            controlid,
                            &[rolled_back()],
                            "aborted",
                        ));
                    }
                }
            }
        }
    } else {
        let mut injected = injected;
        for (controlid, call) in functions {
            let write = echo.uniqueid || WRITE_FUNCTIONS.contains(&call.name.as_str());
            let outcome = if let Some(f) = injected.take() {
                Err(FnError::Fail(f))
            } else if write {
                let mut tx = sim.db().begin_write().await?;
                match run_one(&ctx, &mut tx, echo, controlid, call).await {
                    Ok(d) => {
                        store::count_usage(&mut tx, pair_id, &period, d.usage).await?;
                        tx.commit().await?;
                        Ok(Done { usage: 0, ..d })
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            } else {
                let mut conn = sim.db().pool().acquire().await?;
                run_one(&ctx, &mut conn, echo, controlid, call).await
            };
            match outcome {
                Ok(d) => {
                    usage += d.usage;
                    let mut r = result_head("success", &call.name, controlid);
                    r.children.extend(d.elements);
                    results.push(r);
                }
                Err(FnError::Fail(f)) => {
                    results.push(failure_result(&call.name, controlid, &f.0, "failure"))
                }
                Err(FnError::Db(e)) => return Err(e),
            }
        }
    }

    if usage > 0 {
        let mut conn = sim.db().pool().acquire().await?;
        store::count_usage(&mut conn, pair_id, &period, usage).await?;
    }
    Ok(results)
}

/// The usage period (`YYYY-MM`) of a request at `now` (epoch ms).
fn usage_period(now: i64) -> String {
    let date = wire::format_date(
        time::OffsetDateTime::from_unix_timestamp(now / 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .date(),
    );
    // MM/DD/YYYY → YYYY-MM
    format!("{}-{}", &date[6..10], &date[0..2])
}

/// One function: claims its control id under `uniqueid=true`, then runs it.
async fn run_one(
    ctx: &Ctx<'_>,
    conn: &mut sqlx::AnyConnection,
    echo: &ControlEcho,
    controlid: &str,
    call: &Element,
) -> FnResult {
    ctx.refs.lock().clear();
    if echo.uniqueid {
        let claimed = store::claim_control_id(
            conn,
            ctx.pair_id,
            ctx.company_id,
            &echo.senderid,
            controlid,
            &call.name,
            ctx.now,
        )
        .await?;
        if !claimed {
            return Err(duplicate_control_id(controlid).into());
        }
    }
    match call.name.as_str() {
        "create_sotransaction" => sales::create(ctx, conn, call).await,
        "update_sotransaction" => sales::update(ctx, conn, call).await,
        "create_aradjustment" => adjustments::create(ctx, conn, call).await,
        "read" => generic::read(ctx, conn, call, false).await,
        "readByName" => generic::read(ctx, conn, call, true).await,
        "readByQuery" => generic::read_by_query(ctx, conn, call).await,
        "readMore" => generic::read_more(ctx, conn, call).await,
        "query" => generic::query(ctx, conn, call).await,
        "create" => generic::create(ctx, conn, call).await,
        "update" => generic::update(ctx, conn, call).await,
        "delete" => generic::delete(ctx, conn, call).await,
        "lookup" | "inspect" => generic::lookup_function(call),
        other => Err(Fail::new(
            errno::XML_ERROR,
            "Unknown function",
            &format!("The function '{other}' is not supported."),
            "",
        )
        .into()),
    }
}
