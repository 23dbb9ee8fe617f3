//! Tenant-wide mapping data pages: currency rates.
//!
//! `/rates` lists the tenant's table with a GET filter, adds and removes one
//! row with plain forms, and imports or exports the whole table as CSV (a
//! multipart upload, so it works without JavaScript). Changes need the owner
//! or admin role, as in the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{CsrfForm, Nav, WebUser, check_csrf};
use crate::error::ApiError;
use crate::rates::{self, RateInput, RatesError, StoredRate};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "rates.html")]
struct RatesPage {
    nav: Nav,
    rows: Vec<RateRowView>,
    total: usize,
    filter_from: String,
    filter_to: String,
    can_manage: bool,
    flash: Option<String>,
    /// The add form's values, kept after a refused submit.
    form: RateInput,
    /// (field, message) of a refused add: `from`, `to`, `date`, `rate`.
    errors: Vec<(String, String)>,
    /// A refused CSV upload, naming the line.
    import_error: Option<String>,
}

impl RatesPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.import_error.is_some()
    }
}

struct RateRowView {
    from: String,
    to: String,
    date: String,
    rate: String,
    added: String,
    by: String,
}

impl From<StoredRate> for RateRowView {
    fn from(r: StoredRate) -> Self {
        Self {
            added: super::when(r.created_at),
            by: r.created_by,
            from: r.from,
            to: r.to,
            date: r.date,
            rate: r.rate,
        }
    }
}

#[derive(Deserialize, Default)]
pub struct RatesQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// What the last change did, after a redirect.
    #[serde(default)]
    done: String,
    #[serde(default)]
    n: Option<usize>,
}

struct Shown {
    flash: Option<String>,
    form: RateInput,
    errors: Vec<(String, String)>,
    import_error: Option<String>,
}

async fn render(
    state: &AppState,
    u: WebUser,
    q: &RatesQuery,
    shown: Shown,
) -> Result<Response, ApiError> {
    let filter = |raw: &str| {
        let raw = raw.trim();
        if raw.is_empty() {
            Ok(None)
        } else {
            rates::parse_code("filter", raw).map(Some)
        }
    };
    let (from, to, mut flash) = match (filter(&q.from), filter(&q.to)) {
        (Ok(from), Ok(to)) => (from, to, shown.flash),
        (Err(e), _) | (_, Err(e)) => (
            None,
            None,
            Some(format!("{e}; showing every rate instead.")),
        ),
    };
    let rows: Vec<RateRowView> = rates::list(&state.db, &u.who.tenant_id, from, to)
        .await?
        .into_iter()
        .map(RateRowView::from)
        .collect();
    if flash.is_none() && rows.is_empty() && (from.is_some() || to.is_some()) {
        flash = Some("No rates match this filter.".into());
    }
    Ok(RatesPage {
        can_manage: u.who.role.can_manage(),
        nav: u.nav,
        total: rows.len(),
        rows,
        filter_from: from.map(|c| c.to_string()).unwrap_or_default(),
        filter_to: to.map(|c| c.to_string()).unwrap_or_default(),
        flash,
        form: shown.form,
        errors: shown.errors,
        import_error: shown.import_error,
    }
    .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<RatesQuery>,
) -> Result<Response, ApiError> {
    let flash = match (q.done.as_str(), q.n) {
        ("added", _) => Some("Rate added.".to_owned()),
        ("removed", _) => Some("Rate removed.".to_owned()),
        ("imported", Some(n)) => Some(format!(
            "Imported {n} rate{}; they replace the previous table.",
            if n == 1 { "" } else { "s" }
        )),
        _ => None,
    };
    let shown = Shown {
        flash,
        form: RateInput::default(),
        errors: Vec::new(),
        import_error: None,
    };
    render(&state, u, &q, shown).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    rate: String,
}

pub async fn add(
    State(state): State<AppState>,
    u: WebUser,
    Form(f): Form<AddForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    u.who.require_manager()?;
    let input = RateInput {
        from: f.from,
        to: f.to,
        date: f.date,
        rate: f.rate,
    };
    let refused = |field: &str, message: String| Shown {
        flash: None,
        form: input.clone(),
        errors: vec![(field.to_owned(), message)],
        import_error: None,
    };
    let shown = match rates::check_row("form", &input) {
        Err(RatesError::Invalid { field, message }) => {
            refused(field.trim_start_matches("form."), message)
        }
        Err(e) => return Err(e.into()),
        Ok(rate) => match rates::add(&state.db, &u.who.tenant_id, &u.who.actor(), &rate).await {
            Ok(()) => return Ok(Redirect::to("/rates?done=added").into_response()),
            Err(e @ RatesError::Duplicate { .. }) => {
                refused("date", format!("{e}; remove it first to change the rate"))
            }
            Err(e) => return Err(e.into()),
        },
    };
    render(&state, u, &RatesQuery::default(), shown).await
}

pub async fn remove(
    State(state): State<AppState>,
    u: WebUser,
    Path((from, to, date)): Path<(String, String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    check_csrf(&f.csrf, &u.nav.csrf)?;
    u.who.require_manager()?;
    // A path that is not a code or date names no row of this tenant.
    let (Ok(from), Ok(to), Ok(date)) = (
        rates::parse_code("from", &from),
        rates::parse_code("to", &to),
        rates::parse_day("date", &date),
    ) else {
        return Err(ApiError::NotFound("currency rate"));
    };
    if !rates::remove(&state.db, &u.who.tenant_id, &u.who.actor(), from, to, date).await? {
        return Err(ApiError::NotFound("currency rate"));
    }
    Ok(Redirect::to("/rates?done=removed").into_response())
}

pub async fn export(
    State(state): State<AppState>,
    u: WebUser,
    Query(q): Query<RatesQuery>,
) -> Result<Response, ApiError> {
    let code = |field: &str, raw: &str| {
        Some(raw.trim())
            .filter(|s| !s.is_empty())
            .map(|s| rates::parse_code(field, s))
            .transpose()
    };
    let from = code("from", &q.from)?;
    let to = code("to", &q.to)?;
    let rows = rates::list(&state.db, &u.who.tenant_id, from, to).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"currency-rates.csv\"",
            ),
        ],
        rates::to_csv(&rows),
    )
        .into_response())
}

/// Replaces the table from an uploaded CSV file; a refused file is shown
/// with its line and field, and nothing is saved.
pub async fn import(
    State(state): State<AppState>,
    u: WebUser,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let mut csrf = String::new();
    let mut file: Option<Vec<u8>> = None;
    let unreadable = |e: axum::extract::multipart::MultipartError| ApiError::BadRequest {
        code: if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "malformed"
        },
        message: format!("could not read the upload: {}", e.body_text()),
        field: Some("file".into()),
    };
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(unreadable)?,
            Some("file") => file = Some(field.bytes().await.map_err(unreadable)?.to_vec()),
            _ => {}
        }
    }
    check_csrf(&csrf, &u.nav.csrf)?;
    u.who.require_manager()?;
    let refused = |message: String| Shown {
        flash: None,
        form: RateInput::default(),
        errors: Vec::new(),
        import_error: Some(message),
    };
    let shown = match file.as_deref() {
        None | Some([]) => refused("Choose a CSV file to upload.".into()),
        Some(bytes) => match rates::parse_csv(bytes) {
            Ok(checked) => {
                rates::replace(&state.db, &u.who.tenant_id, &u.who.actor(), &checked, "csv")
                    .await?;
                return Ok(
                    Redirect::to(&format!("/rates?done=imported&n={}", checked.len()))
                        .into_response(),
                );
            }
            Err(RatesError::Invalid { field, message }) => refused(format!(
                "{}: {message}. Nothing was saved; fix the file and upload it again.",
                field.replacen('.', ", ", 1)
            )),
            Err(e) => return Err(e.into()),
        },
    };
    render(&state, u, &RatesQuery::default(), shown).await
}
