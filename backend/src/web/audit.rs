//! The audit log pages: `/audit`, a tenant's own entries, and
//! `/admin/audit`, every tenant's for operators (with a tenant column and
//! filter). Each is a GET filter form (actor, action, UTC days, how many),
//! the table and a CSV download of the same filter (`/audit.csv`,
//! `/admin/audit.csv`). A bad filter value is shown on its field, with no
//! entries, and answers 422.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{Nav, WebUser, operator};
use crate::api::audit::{TenantQuery, csv_download, tenant_filter};
use crate::audit::{self, AuditEntry, AuditFilter, FilterQuery};
use crate::error::ApiError;
use crate::state::AppState;

/// The filter as typed, to fill the form again and to carry to the CSV link.
#[derive(Default)]
struct Shown {
    actor: String,
    action: String,
    from: String,
    to: String,
    limit: String,
    tenant: String,
}

impl Shown {
    fn new(q: &FilterQuery, tenant: Option<&str>) -> Self {
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
        Self {
            actor: text(&q.actor),
            action: text(&q.action),
            from: text(&q.from),
            to: text(&q.to),
            limit: text(&q.limit),
            tenant: tenant.unwrap_or("").trim().to_owned(),
        }
    }

    /// `path`, with the filter's non-empty values as its query string.
    fn link(&self, path: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("tenant", &self.tenant),
            ("actor", &self.actor),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// Whether anything but the number shown narrows the log.
    fn narrows(&self) -> bool {
        [
            &self.tenant,
            &self.actor,
            &self.action,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }
}

/// One entry as a row of the table.
struct Row {
    when: String,
    stamp: String,
    tenant_id: String,
    tenant_name: String,
    /// The actor's email; empty for the system.
    actor: String,
    action: String,
    target: String,
    detail: String,
}

impl Row {
    fn new(e: AuditEntry, names: &[(String, String)]) -> Self {
        let tenant_id = e.tenant_id.unwrap_or_default();
        let tenant_name = names
            .iter()
            .find(|(id, _)| *id == tenant_id)
            .map(|(_, name)| name.clone())
            .unwrap_or_default();
        Self {
            when: super::when(e.at),
            stamp: audit::timestamp(e.at),
            tenant_id,
            tenant_name,
            actor: e.actor_email.unwrap_or_default(),
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        }
    }
}

/// What both pages show below their header.
struct Listing {
    form: Shown,
    /// (field, message) of a refused filter value.
    error: Option<(String, String)>,
    rows: Vec<Row>,
    limit: i64,
    csv_href: String,
    clear_href: &'static str,
    /// Operators' pages show each entry's tenant.
    with_tenant: bool,
    /// What the log holds, for when it holds nothing yet.
    empty_text: &'static str,
}

impl Listing {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    fn status(&self) -> StatusCode {
        if self.error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }

    fn total(&self) -> usize {
        self.rows.len()
    }

    /// The table stopped at the limit: older entries may be left out.
    fn truncated(&self) -> bool {
        self.rows.len() as i64 >= self.limit
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    l: Listing,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_audit.html")]
struct AdminAuditPage {
    email: String,
    csrf: String,
    /// (id, name) of every tenant, for the filter.
    tenants: Vec<(String, String)>,
    l: Listing,
}

/// Where a log page lives and what it says when empty.
struct Place {
    path: &'static str,
    csv_path: &'static str,
    with_tenant: bool,
    empty_text: &'static str,
}

const TENANT_PAGE: Place = Place {
    path: "/audit",
    csv_path: "/audit.csv",
    with_tenant: false,
    empty_text: "Nothing is recorded yet. Each change to this account will appear here with who made it and \
                 when: a new integration, a saved connection or template, a team member invited or removed, \
                 an API token created or revoked, a change of plan.",
};

const OPERATOR_PAGE: Place = Place {
    path: "/admin/audit",
    csv_path: "/admin/audit.csv",
    with_tenant: true,
    empty_text: "Nothing is recorded yet. Each change in any tenant, and each operator action, will appear \
                 here with who made it and when.",
};

/// The log for `tenant` (`None`: every tenant's), or the refused value.
async fn listing(
    state: &AppState,
    tenant: Result<Option<&str>, ApiError>,
    q: &FilterQuery,
    form: Shown,
    names: &[(String, String)],
    place: &Place,
) -> Result<Listing, ApiError> {
    let checked = tenant.and_then(|t| {
        AuditFilter::parse(q)
            .map(|f| (t, f))
            .map_err(ApiError::from)
    });
    let (tenant, filter) = match checked {
        Ok(ok) => ok,
        Err(e @ ApiError::BadRequest { .. }) => {
            let field = e.field().unwrap_or("filter").to_owned();
            return Ok(Listing {
                csv_href: form.link(place.csv_path),
                form,
                error: Some((field, e.to_string())),
                rows: Vec::new(),
                limit: audit::DEFAULT_LIMIT,
                clear_href: place.path,
                with_tenant: place.with_tenant,
                empty_text: place.empty_text,
            });
        }
        Err(e) => return Err(e),
    };
    let rows = audit::search(&state.db, tenant, &filter)
        .await?
        .into_iter()
        .map(|e| Row::new(e, names))
        .collect();
    Ok(Listing {
        csv_href: form.link(place.csv_path),
        form,
        error: None,
        rows,
        limit: filter.limit,
        clear_href: place.path,
        with_tenant: place.with_tenant,
        empty_text: place.empty_text,
    })
}

/// `/audit`: the signed-in user's tenant's log.
pub async fn show(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<FilterQuery>,
) -> Result<Response, ApiError> {
    let form = Shown::new(&q, None);
    let l = listing(
        &state,
        Ok(Some(&u.who.tenant_id)),
        &q,
        form,
        &[],
        &TENANT_PAGE,
    )
    .await?;
    Ok((l.status(), AuditPage { nav: u.nav, l }).into_response())
}

/// `/audit.csv`: the same entries as `/audit` with the same filter, as CSV.
pub async fn export(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<FilterQuery>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter::parse(&q)?;
    let entries = audit::search(&state.db, Some(&u.who.tenant_id), &filter).await?;
    Ok(csv_download("audit-log", &entries, false))
}

/// `/admin/audit`: every tenant's log, or one tenant's, for operators.
pub async fn admin_show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FilterQuery>,
    Query(t): Query<TenantQuery>,
) -> Result<Response, Response> {
    let op = operator((&headers, &state)).await?;
    let internal = |e: ApiError| e.into_response();
    let tenants = audit::tenant_names(&state.db)
        .await
        .map_err(|e| internal(e.into()))?;
    let (tenant, refused) = match tenant_filter(&state, t.tenant.as_deref()).await {
        Ok(id) => (id, None),
        Err(e) => (None, Some(e)),
    };
    let form = Shown::new(&q, t.tenant.as_deref());
    let l = listing(
        &state,
        refused.map_or(Ok(tenant.as_deref()), Err),
        &q,
        form,
        &tenants,
        &OPERATOR_PAGE,
    )
    .await
    .map_err(internal)?;
    Ok((
        l.status(),
        AdminAuditPage {
            email: op.email,
            csrf: op.csrf,
            tenants,
            l,
        },
    )
        .into_response())
}

/// `/admin/audit.csv`: the operator page's entries as CSV, with each
/// entry's tenant.
pub async fn admin_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FilterQuery>,
    Query(t): Query<TenantQuery>,
) -> Result<Response, Response> {
    operator((&headers, &state)).await?;
    let entries = async {
        let tenant = tenant_filter(&state, t.tenant.as_deref()).await?;
        let filter = AuditFilter::parse(&q)?;
        let entries = audit::search(&state.db, tenant.as_deref(), &filter).await?;
        Ok::<_, ApiError>((tenant, entries))
    }
    .await
    .map_err(IntoResponse::into_response)?;
    let (tenant, entries) = entries;
    let name = match &tenant {
        Some(t) => format!("audit-log-{t}"),
        None => "audit-log-all-tenants".to_owned(),
    };
    Ok(csv_download(&name, &entries, true))
}
