//! Page handlers: thin; the work is in the domain modules the API uses too.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::connection_forms::ConnectionForm;
use super::csrf_matches;
use super::sandbox_faults::FaultsForm;
use crate::audit::Actor;
use crate::auth::extract::{Via, caller};
use crate::auth::{Principal, Role, ratelimit, session};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId, TenantId, UserId};
use crate::pairs::{self, NewPair, Pair, ParsedPair};
use crate::runs::{self, DeadLetter, Run};
use crate::sandbox::clarity::PayloadMode;
use crate::state::AppState;
use crate::tenants::{self, AccountError, SignUp};

pub struct Nav {
    pub company: String,
    pub email: String,
    pub csrf: String,
}

/// A signed-in tenant user, from the session cookie; otherwise a redirect to /login.
pub struct WebUser {
    pub who: Principal,
    pub nav: Nav,
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let c = caller(parts, state)
            .await
            .map_err(|_| to_login())?
            .ok_or_else(to_login)?;
        let Via::Session { csrf } = c.via.clone() else {
            return Err(to_login());
        };
        if c.role == Role::Operator {
            return Err(Redirect::to("/admin").into_response());
        }
        let (Some(tenant_id), Some(plan)) = (c.tenant_id, c.plan) else {
            return Err(to_login());
        };
        if c.tenant_status.as_deref() == Some("suspended") {
            return Err(
                ApiError::Forbidden("this account is suspended; contact support".into())
                    .into_response(),
            );
        }
        crate::auth::extract::refuse_read_only(parts, c.role)
            .map_err(IntoResponse::into_response)?;
        let (company,): (String,) = sqlx::query_as("SELECT name FROM tenants WHERE id = $1")
            .bind(&tenant_id)
            .fetch_one(state.db.pool())
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        Ok(WebUser {
            nav: Nav {
                company,
                email: c.email.clone(),
                csrf: csrf.clone(),
            },
            who: Principal {
                user_id: UserId::stored(c.user_id),
                tenant_id: TenantId::stored(tenant_id),
                email: c.email,
                role: c.role,
                plan,
                via: Via::Session { csrf },
            },
        })
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub(super) fn check_csrf(sent: &str, nav_csrf: &str) -> Result<(), ApiError> {
    if csrf_matches(sent, nav_csrf) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the form expired; reload the page and try again".into(),
        ))
    }
}

/// A page refused by a throttle: 429 with `Retry-After`, like the API, and
/// the same words on the page.
fn too_many(mut page: Response, retry_after: u64) -> Response {
    *page.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    page
}

pub(super) fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub async fn home(headers: HeaderMap) -> Redirect {
    let signed_in = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(session::from_cookie_header)
        .is_some();
    Redirect::to(if signed_in { "/pairs" } else { "/login" })
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    email: String,
    error: Option<String>,
}

pub async fn login_form() -> impl IntoResponse {
    LoginPage {
        email: String::new(),
        error: None,
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let email_lower = f.email.trim().to_lowercase();
    let address = addr.ip().to_string();
    let page = |error: String| {
        LoginPage {
            email: f.email.clone(),
            error: Some(error),
        }
        .into_response()
    };
    if let Some(wait) = ratelimit::admit(&state.db, &email_lower, &address).await? {
        return Ok(too_many(
            page(format!("{}.", ratelimit::sign_in_wait_message(wait))),
            wait,
        ));
    }
    let user = match tenants::authenticate(&state.db, &f.email, &f.password).await {
        Ok(u) => u,
        Err(AccountError::BadCredentials) => {
            ratelimit::record_failure(&state.db, &email_lower, &address).await?;
            return Ok(page("Email or password is wrong.".into()));
        }
        Err(e) => return Err(e.into()),
    };
    ratelimit::record_success(&state.db, &email_lower, &address).await?;
    let s = session::create(&state.db, &user.user_id).await?;
    let target = if user.role == Role::Operator {
        "/admin"
    } else {
        "/pairs"
    };
    Ok(with_cookie(
        Redirect::to(target).into_response(),
        session::set_cookie(&s.id, state.config.secure_cookies()),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "signup.html")]
struct SignupPage {
    company: String,
    email: String,
    error: String,
    error_field: String,
}

pub async fn signup_form() -> impl IntoResponse {
    SignupPage {
        company: String::new(),
        email: String::new(),
        error: String::new(),
        error_field: String::new(),
    }
}

#[derive(Deserialize)]
pub struct SignupForm {
    company: String,
    email: String,
    password: String,
}

pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<SignupForm>,
) -> Result<Response, ApiError> {
    let page = |field: &str, error: String| {
        SignupPage {
            company: f.company.clone(),
            email: f.email.clone(),
            error,
            error_field: field.to_owned(),
        }
        .into_response()
    };
    let address = addr.ip().to_string();
    if let Some(wait) =
        ratelimit::check_signup(&state.db, &address, state.config.signups_per_hour).await?
    {
        return Ok(too_many(
            page("", format!("{}.", ratelimit::sign_up_wait_message(wait))),
            wait,
        ));
    }
    let input = match SignUp::parse(&f.company, &f.email, &f.password) {
        Ok(i) => i,
        Err(AccountError::Invalid { field, message }) => {
            return Ok(page(field, format!("This {message}.")));
        }
        Err(e) => return Err(e.into()),
    };
    let created = tenants::sign_up(&state.db, &state.vault, input).await;
    if matches!(created, Ok(_) | Err(AccountError::EmailTaken)) {
        ratelimit::record_signup(&state.db, &address).await?;
    }
    let created = match created {
        Ok(c) => c,
        Err(AccountError::EmailTaken) => {
            return Ok(page(
                "email",
                "An account with this email already exists. Log in instead.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let s = session::create(&state.db, &created.user_id).await?;
    // A new account starts in the setup wizard.
    Ok(with_cookie(
        Redirect::to("/welcome").into_response(),
        session::set_cookie(&s.id, state.config.secure_cookies()),
    ))
}

/// Signing out takes the session's CSRF token like every other form: a
/// cross-site post must not be able to end the session.
pub async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let signed_out = || {
        with_cookie(
            Redirect::to("/login").into_response(),
            session::clear_cookie(state.config.secure_cookies()),
        )
    };
    let Some(id) = parts
        .headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(session::from_cookie_header)
    else {
        return Ok(signed_out());
    };
    // An expired or unknown session has nothing left to protect.
    let Ok(Some(c)) = caller(&parts, &state).await else {
        return Ok(signed_out());
    };
    let Via::Session { csrf } = &c.via else {
        return Ok(signed_out());
    };
    let sent = form.map(|Form(f)| f.csrf).unwrap_or_default();
    check_csrf(&sent, csrf)?;
    session::delete(&state.db, id).await?;
    Ok(signed_out())
}

#[derive(Template, WebTemplate)]
#[template(path = "pairs.html")]
struct PairsPage {
    nav: Nav,
    pairs: Vec<Pair>,
    flash: Option<String>,
    form_name: String,
    error: String,
    error_field: String,
    /// The error is the plan's: offer the upgrade beside it.
    upgrade: bool,
    /// Setup is not finished: "Continue setup".
    setup_open: bool,
}

pub async fn pairs(State(state): State<AppState>, u: WebUser) -> Result<Response, ApiError> {
    let pairs = pairs::list(&state, &u.who.tenant_id).await?;
    let setup_open = !crate::onboarding::get(&state.db, &u.who.tenant_id)
        .await?
        .done();
    Ok(PairsPage {
        setup_open,
        nav: u.nav,
        pairs,
        flash: None,
        form_name: String::new(),
        error: String::new(),
        error_field: String::new(),
        upgrade: false,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct PairForm {
    #[serde(default)]
    csrf: String,
    name: String,
    erp: String,
    environment: String,
}

pub async fn create_pair(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<PairForm>,
) -> Result<Response, Response> {
    check_csrf(&f.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    let input = ParsedPair::try_from(NewPair {
        name: f.name.clone(),
        erp: f.erp,
        environment: f.environment,
    });
    let result = match input {
        Ok(i) => pairs::create(&state, &u.who, i).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/pairs/{}", p.id)).into_response()),
        Err(
            e @ (ApiError::BadRequest { .. }
            | ApiError::Conflict { .. }
            | ApiError::Forbidden(_)
            | ApiError::PlanLimit(_)),
        ) => {
            let pairs = pairs::list(&state, &u.who.tenant_id)
                .await
                .map_err(IntoResponse::into_response)?;
            // The form again with the refusal, under the refusal's status.
            let page = PairsPage {
                setup_open: false,
                nav: u.nav,
                pairs,
                flash: None,
                form_name: f.name,
                error: e.public_message(),
                error_field: e.field().unwrap_or_default().to_owned(),
                upgrade: matches!(e, ApiError::PlanLimit(_)),
            };
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e.into_response()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pair.html")]
struct PairPage {
    nav: Nav,
    pair: Pair,
    connections: Vec<ConnectionForm>,
    /// Sandbox pairs: each simulator's fault settings.
    faults: Vec<FaultsForm>,
    runs: Vec<Run>,
    /// The flow the runs shown are of, when filtered.
    runs_of: Option<String>,
    dead_letters: Vec<DeadLetter>,
    /// Every flow, with the template version the pair uses for it.
    flows: Vec<FlowRow>,
    flash: Option<String>,
    flash_error: bool,
}

/// One flow on the pair page: whether it runs and how it went, its editor,
/// and the template it runs with.
struct FlowRow {
    flow: &'static str,
    settings: crate::pairs::flows::PairFlow,
    /// The pinned template: (version, saved by, when); none before one is saved.
    template: Option<(i64, String, String)>,
    last_run: Option<String>,
    last_poll: Option<String>,
    next_run: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PairNotice {
    sent: Option<u32>,
    status: Option<String>,
    saved: Option<String>,
    tested: Option<String>,
    faults: Option<String>,
    rotated: Option<String>,
    /// A flow changed: its name, and `on`, `off`, `polling`, `already` or
    /// `backfill`.
    flow: Option<String>,
    flow_state: Option<String>,
    /// Only this flow's runs.
    runs: Option<String>,
}

/// What a page says after a redirect, from the query string it was sent to.
fn notice_text(n: &PairNotice, pair: &Pair) -> Option<(String, bool)> {
    let label = |system: &str| super::connection_forms::system_label(system).to_owned();
    if let (Some(flow), Some(state)) = (&n.flow, &n.flow_state) {
        let text = match state.as_str() {
            "on" => format!("The {flow} flow is on."),
            "off" => {
                format!("The {flow} flow is off: its events are not run until you turn it on.")
            }
            "polling" => {
                format!("The {flow} flow polls now; its changes appear below as they run.")
            }
            "already" => format!("A poll of the {flow} flow is already on its way."),
            "backfill" => format!(
                "The {flow} flow reads its history now; the progress is shown with the flow."
            ),
            _ => return None,
        };
        return Some((text, false));
    }
    if let Some(n) = n.sent {
        return Some((
            format!(
                "Sent {n} test orders from the Clarity simulator; they appear below as they are processed."
            ),
            false,
        ));
    }
    if let Some(system) = &n.saved {
        return Some((format!("{} connection saved.", label(system)), false));
    }
    if n.rotated.is_some() {
        return Some((
            "Webhook secret rotated. Clarity signs with the old and the new secret for 24 hours; both are accepted until then.".to_owned(),
            false,
        ));
    }
    if let Some(system) = &n.faults {
        return Some((format!("{} simulator faults saved.", label(system)), false));
    }
    if let Some(system) = &n.tested {
        let c = pair.connections.iter().find(|c| &c.system == system)?;
        let ok = c.last_test_ok.unwrap_or(false);
        let detail = c.last_test_detail.clone().unwrap_or_default();
        return Some((
            format!(
                "{} connection test {}: {detail}",
                label(system),
                if ok { "passed" } else { "failed" }
            ),
            !ok,
        ));
    }
    match n.status.as_deref() {
        Some("active") => Some((
            "The pair is active: new events flow again.".to_owned(),
            false,
        )),
        Some("paused") => Some((
            "The pair is paused: new events wait until you activate it; none are lost.".to_owned(),
            false,
        )),
        _ => None,
    }
}

pub async fn pair(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<PairId>,
    axum::extract::Query(notice): axum::extract::Query<PairNotice>,
) -> Result<Response, ApiError> {
    let runs_of = notice
        .runs
        .clone()
        .filter(|f| pairs::flows::kind(f).is_some());
    render_pair_with(
        &state,
        u,
        &id,
        |pair| notice_text(&notice, pair),
        (None, None),
        runs_of.as_deref(),
    )
    .await
}

/// The pair page; `failed` re-shows a connection form that was refused, with
/// the error beside its field and the non-secret values the user typed.
pub(super) async fn render_pair(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    flash: impl FnOnce(&Pair) -> Option<(String, bool)>,
    failed: Option<ConnectionForm>,
    failed_faults: Option<FaultsForm>,
) -> Result<Response, ApiError> {
    render_pair_with(state, u, id, flash, (failed, failed_faults), None).await
}

/// The pair page, its runs those of `runs_of` only when given.
async fn render_pair_with(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    flash: impl FnOnce(&Pair) -> Option<(String, bool)>,
    (failed, failed_faults): (Option<ConnectionForm>, Option<FaultsForm>),
    runs_of: Option<&str>,
) -> Result<Response, ApiError> {
    let pair = pairs::get(state, &u.who.tenant_id, id).await?;
    let filter = runs::RunFilter {
        status: None,
        flow: runs_of,
    };
    let runs = runs::list(&state.db, &u.who.tenant_id, id, filter, 50).await?;
    let dead_letters = runs::dead_letters(&state.db, &u.who.tenant_id, id).await?;
    let mut connections = ConnectionForm::for_pair(&pair);
    if let Some(f) = failed {
        for c in connections.iter_mut().filter(|c| c.system == f.system) {
            *c = f.clone();
        }
    }
    let mut faults = if pair.environment == pairs::Environment::Sandbox {
        FaultsForm::for_pair(state, &pair).await?
    } else {
        Vec::new()
    };
    if let Some(f) = failed_faults {
        for slot in faults.iter_mut().filter(|s| s.system == f.system) {
            *slot = f.clone();
        }
    }
    let pinned = crate::templates::list(state, &u.who.tenant_id, id).await?;
    let mut settings = pairs::flows::list(state, &u.who.tenant_id, id).await?;
    let flows = pairs::FLOWS
        .iter()
        .filter_map(|&flow| {
            let at = settings.iter().position(|f| f.flow == flow)?;
            let settings = settings.swap_remove(at);
            Some(FlowRow {
                flow,
                last_run: settings.last_run_at.map(super::when),
                last_poll: settings.last_poll_at.map(super::when),
                next_run: settings.next_run_at.map(super::when),
                settings,
                template: pinned
                    .iter()
                    .find(|t| t.flow == flow)
                    .map(|t| (t.version, t.author.clone(), super::when(t.updated_at))),
            })
        })
        .collect();
    let flash = flash(&pair);
    Ok(PairPage {
        nav: u.nav,
        faults,
        flows,
        connections,
        runs,
        runs_of: runs_of.map(str::to_owned),
        dead_letters,
        flash_error: flash.as_ref().is_some_and(|f| f.1),
        flash: flash.map(|f| f.0),
        pair,
    }
    .into_response())
}

async fn set_status(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    csrf: &str,
    status: &str,
) -> Result<Response, Response> {
    check_csrf(csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    match pairs::set_status(state, &u.who, id, status).await {
        Ok(_) => Ok(Redirect::to(&format!("/pairs/{id}?status={status}")).into_response()),
        Err(e) => Err(e.into_response()),
    }
}

pub async fn activate(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<PairId>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    set_status(&state, u, &id, &f.csrf, "active").await
}

pub async fn pause(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<PairId>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    set_status(&state, u, &id, &f.csrf, "paused").await
}

#[derive(Deserialize)]
pub struct OrdersForm {
    #[serde(default)]
    csrf: String,
    count: u32,
}

pub async fn sandbox_orders(
    State(state): State<AppState>,
    u: WebUser,
    IdPath(id): IdPath<PairId>,
    Form(f): Form<OrdersForm>,
) -> Result<Response, Response> {
    check_csrf(&f.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    let pair = pairs::get(&state, &u.who.tenant_id, &id)
        .await
        .map_err(IntoResponse::into_response)?;
    if pair.environment != pairs::Environment::Sandbox || !(1..=500).contains(&f.count) {
        return Err(
            ApiError::invalid("count", "sandbox pairs only, 1 to 500 orders").into_response(),
        );
    }
    crate::sandbox::clarity::create_orders(&state.sandbox, &id, f.count, PayloadMode::Full)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Redirect::to(&format!("/pairs/{id}?sent={}", f.count)).into_response())
}

pub async fn replay(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, dl)): IdPath<(PairId, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    check_csrf(&f.csrf, &u.nav.csrf).map_err(IntoResponse::into_response)?;
    u.who
        .require_operator()
        .map_err(IntoResponse::into_response)?;
    pairs::get(&state, &u.who.tenant_id, &id)
        .await
        .map_err(IntoResponse::into_response)?;
    let inbox_id = runs::replay(&state.db, &u.who.tenant_id, &id, &dl)
        .await
        .map_err(IntoResponse::into_response)?;
    let _ = state.queue.push(&inbox_id).await;
    Ok(Redirect::to(&format!("/pairs/{id}#dead-letters")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin.html")]
struct AdminPage {
    email: String,
    csrf: String,
    tenants: Vec<crate::fleet::TenantRow>,
    plans: Vec<String>,
    q: String,
    plan: String,
    status: String,
    sort: String,
}

pub(super) async fn operator(
    parts_state: (&HeaderMap, &AppState),
) -> Result<crate::auth::Operator, Response> {
    let (headers, state) = parts_state;
    let mut req = axum::http::Request::builder().uri("/admin");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let (parts, _) = req
        .body(())
        .map_err(|_| Redirect::to("/login").into_response())?
        .into_parts();
    let c = caller(&parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    match c {
        Some(c) if c.role == Role::Operator => match c.via {
            Via::Session { csrf } => Ok(crate::auth::Operator {
                user_id: c.user_id,
                email: c.email,
                csrf,
            }),
            Via::Token => Err(Redirect::to("/login").into_response()),
        },
        Some(_) => Err(ApiError::Forbidden("operators only".into()).into_response()),
        None => Err(Redirect::to("/login").into_response()),
    }
}

pub async fn admin(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<crate::api::admin::TenantsQuery>,
) -> Result<Response, Response> {
    let crate::auth::Operator { email, csrf, .. } = operator((&headers, &state)).await?;
    let internal = |e: sqlx::Error| ApiError::from(e).into_response();
    let (search, plan, status, sort) = (
        q.q.clone().unwrap_or_default(),
        q.plan.clone().unwrap_or_default(),
        q.status.clone().unwrap_or_default(),
        q.sort.clone().unwrap_or_else(|| "risk".into()),
    );
    let query = q.parse().map_err(IntoResponse::into_response)?;
    let tenants = crate::fleet::select(
        crate::fleet::tenants(&state.db, None)
            .await
            .map_err(internal)?,
        &query,
    );
    let plans = crate::billing::plans::all(&state.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| p.id)
        .collect();
    Ok(AdminPage {
        email,
        csrf,
        tenants,
        plans,
        q: search,
        plan,
        status,
        sort,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn admin_tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath((id, action)): IdPath<(TenantId, String)>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, Response> {
    let crate::auth::Operator {
        user_id,
        email,
        csrf,
    } = operator((&headers, &state)).await?;
    check_csrf(&f.csrf, &csrf).map_err(IntoResponse::into_response)?;
    let why = crate::api::admin_billing::reason(&f.reason).map_err(IntoResponse::into_response)?;
    let status = match action.as_str() {
        "suspend" => "suspended",
        "resume" => "active",
        _ => return Err(ApiError::NotFound("action").into_response()),
    };
    tenants::set_status(
        &state.db,
        &Actor::user(&user_id, &email),
        &id,
        status,
        Some(why),
    )
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Redirect::to("/admin").into_response())
}
