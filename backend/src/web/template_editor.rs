//! The mapping editor page, `/pairs/{id}/templates/{flow}`: the rules as a
//! table (target ← source or expression, each row its own form), what the
//! preview found per rule, suggestions to accept or reject, lookup tables
//! (inline and as CSV), the dry-run preview beside the rules, version history
//! with a diff and restore, and "start from a pre-built template".
//!
//! Everything reads and works without JavaScript: edits are forms that
//! post, save a new version through the same checks as the API, and redirect
//! back; a refused edit re-renders the page with the error beside the row
//! and what was typed. `static/editor.js` only adds the inline rule check.
//!
//! A role that cannot change templates (a member) gets the same page without
//! the edit forms, which the server would refuse: rules, lookups,
//! suggestions, history, diff and the preview (which writes nothing) stay.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use connect_jobs::mapping::suggest::{TemplateTarget, template_targets, unmapped_targets};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::pages::{Nav, WebUser, check_csrf};
use crate::error::ApiError;
use crate::ids::{IdPath, PairId};
use crate::pairs::{self, FLOWS, Pair};
use crate::preview::{self, PreviewRequest, PreviewResponse};
use crate::state::AppState;
use crate::templates::diff::TemplateDiff;
use crate::templates::lookups;
use crate::templates::suggestions::{self, Decision, Suggestion};
use crate::templates::{self, BuiltinInfo, TemplateInfo};

/// The keys that say where a rule's value comes from; a row edits one of them.
const PRODUCERS: [&str; 8] = [
    "source", "expr", "value", "setting", "format", "lookup", "each", "items",
];

/// Kinds a row's select offers; `json` edits the whole rule as JSON.
const KINDS: [(&str, &str); 6] = [
    ("source", "Source field"),
    ("expr", "Expression (jq)"),
    ("value", "Constant"),
    ("setting", "Setting"),
    ("format", "Text format"),
    ("json", "Rule as JSON"),
];

/// Sample records the preview maps when the page opens.
const DEFAULT_SAMPLE: i64 = 3;

/// Empty rows offered under a lookup table for new entries.
const BLANK_LOOKUP_ROWS: usize = 3;

/// A lookup table longer than this is shown read-only (use the CSV).
const INLINE_LOOKUP_MAX: usize = 200;

#[derive(Template, WebTemplate)]
#[template(path = "template_editor.html")]
struct EditorPage {
    nav: Nav,
    /// Whether the user's role may save; without it the page is read-only.
    can_edit: bool,
    role: &'static str,
    pair: Pair,
    flow: String,
    flows: Vec<TemplateInfo>,
    version: i64,
    author: String,
    saved_at: String,
    record: String,
    rules: Vec<RuleRow>,
    kinds: Vec<(&'static str, &'static str)>,
    /// The add-rule form, as typed when it was refused.
    new_rule: RowInput,
    missing_required: Vec<String>,
    suggestions: Vec<SuggestionGroup>,
    lookups: Vec<LookupView>,
    preview: PreviewView,
    versions: Vec<VersionRow>,
    diff: Option<DiffView>,
    diff_from: i64,
    diff_to: i64,
    builtins: Vec<BuiltinInfo>,
    flash: Option<String>,
    /// A refused edit: the message, and where it belongs.
    error: Option<Refusal>,
}

impl EditorPage {
    fn base(&self) -> String {
        format!("/pairs/{}/templates/{}", self.pair.id, self.flow)
    }

    fn error_is(&self, place: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.place == place)
    }

    fn rule_error(&self, index: &usize) -> bool {
        self.error_is(&format!("rule-{index}"))
    }

    fn lookup_error(&self, name: &str) -> bool {
        self.error_is(&format!("lookup-{name}"))
    }

    fn error_text(&self) -> &str {
        self.error.as_ref().map_or("", |e| e.message.as_str())
    }

    /// How the read-only page names a row's kind (`Expression (jq)`).
    fn kind_label<'a>(&self, kind: &'a str) -> &'a str {
        KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind, |(_, label)| label)
    }
}

/// Where a refused edit's error is shown: `rule-3`, `new-rule`,
/// `lookup-skus`, `preview`, `suggestions`, `builtin`, `versions`.
struct Refusal {
    place: String,
    message: String,
}

#[derive(Default, Clone)]
struct RowInput {
    target: String,
    kind: String,
    text: String,
}

struct RuleRow {
    index: usize,
    input: RowInput,
    /// Keys kept as they are when the row is saved (transform, optional …).
    extras: String,
    multiline: bool,
    /// What the preview found for this rule's targets.
    problems: Vec<String>,
    checked: bool,
}

struct SuggestionGroup {
    target: String,
    required: bool,
    candidates: Vec<Suggestion>,
}

struct LookupView {
    name: String,
    entries: usize,
    rows: Vec<(String, String)>,
    editable: bool,
}

#[derive(Default)]
struct PreviewView {
    sample: i64,
    pasted: String,
    note: Option<String>,
    error: Option<String>,
    results: Vec<PreviewRow>,
    ran: bool,
}

struct PreviewRow {
    id: String,
    source: String,
    output: String,
    errors: Vec<String>,
}

struct VersionRow {
    version: i64,
    author: String,
    at: String,
    pinned: bool,
}

struct DiffView {
    from: i64,
    to: i64,
    identical: bool,
    rules: Vec<(String, &'static str, String)>,
    values: Vec<(String, &'static str, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditorQuery {
    sample: Option<String>,
    from: Option<String>,
    to: Option<String>,
    saved: Option<i64>,
    done: Option<String>,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn compact(v: Option<&Value>) -> String {
    v.map_or_else(
        || "—".to_owned(),
        |v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    )
}

/// A rule as a row: one producer edited as text when it is a simple one,
/// the whole rule as JSON otherwise.
fn row_input(rule: &Value) -> (RowInput, String, bool) {
    let target = rule["target"].as_str().unwrap_or_default().to_owned();
    let obj = rule.as_object().cloned().unwrap_or_default();
    let producers: Vec<&str> = PRODUCERS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let simple = match producers.as_slice() {
        [one] if KINDS.iter().any(|(k, _)| k == one) => Some(*one),
        _ => None,
    };
    let extras: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "target" && !PRODUCERS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}: {}", compact(Some(v))))
        .collect();
    match simple {
        Some(kind) => {
            let text = match (&obj[kind], kind) {
                (Value::String(s), "value") => serde_json::to_string(s).unwrap_or_default(),
                (Value::String(s), _) => s.clone(),
                (other, _) => other.to_string(),
            };
            (
                RowInput {
                    target,
                    kind: kind.to_owned(),
                    text,
                },
                extras.join(" · "),
                false,
            )
        }
        None => {
            let mut rest = obj;
            rest.remove("target");
            (
                RowInput {
                    target,
                    kind: "json".to_owned(),
                    text: pretty(&Value::Object(rest)),
                },
                String::new(),
                true,
            )
        }
    }
}

/// Builds the rule a row's form describes; `old` supplies the keys a simple
/// row keeps (transform, optional, when …).
fn rule_from_input(input: &RowInput, old: Option<&Value>) -> Result<Value, ApiError> {
    let target = input.target.trim();
    if target.is_empty() {
        return Err(ApiError::invalid("target", "the target field is empty"));
    }
    if input.kind == "json" {
        let mut rule: Value = serde_json::from_str(&input.text)
            .map_err(|e| ApiError::invalid("text", format!("the rule is not valid JSON: {e}")))?;
        let obj = rule
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid("text", "the rule must be a JSON object"))?;
        obj.insert("target".into(), Value::String(target.to_owned()));
        return Ok(rule);
    }
    if !KINDS.iter().any(|(k, _)| *k == input.kind) {
        return Err(ApiError::invalid(
            "kind",
            format!("'{}' is not a kind of rule", input.kind),
        ));
    }
    let text = input.text.trim();
    if text.is_empty() && input.kind != "value" {
        return Err(ApiError::invalid("text", "say where the value comes from"));
    }
    let mut rule = Map::new();
    rule.insert("target".into(), Value::String(target.to_owned()));
    if let Some(old) = old.and_then(Value::as_object) {
        for (k, v) in old {
            if k != "target" && !PRODUCERS.contains(&k.as_str()) {
                rule.insert(k.clone(), v.clone());
            }
        }
    }
    let value = if input.kind == "value" {
        // A constant is JSON (`12`, `true`, `"Each"`); bare text is text.
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    } else {
        Value::String(text.to_owned())
    };
    rule.insert(input.kind.clone(), value);
    Ok(Value::Object(rule))
}

/// `sotransitems[2].itemid` → `sotransitems[].itemid`.
fn without_indexes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut skipping = false;
    for c in path.chars() {
        match c {
            '[' => {
                skipping = true;
                out.push('[');
            }
            ']' => {
                skipping = false;
                out.push(']');
            }
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

/// The top-level rule that writes a field the preview complained about.
fn rule_for_field(targets: &[TemplateTarget], field: &str) -> Option<usize> {
    let field = without_indexes(field);
    targets
        .iter()
        .filter(|t| {
            field == t.path
                || field
                    .strip_prefix(t.path.as_str())
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        })
        .max_by_key(|t| t.path.len())
        .map(|t| t.rule)
}

struct Render<'a> {
    query: &'a EditorQuery,
    preview: Option<PreviewRequest>,
    pasted: String,
    error: Option<Refusal>,
    /// What the refused form held: (place, input).
    typed: Option<(String, RowInput)>,
}

async fn render(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    flow: &str,
    r: Render<'_>,
) -> Result<Response, ApiError> {
    let tenant = u.who.tenant_id.clone();
    let can_edit = u.who.role.can_manage();
    let pair = pairs::get(state, &tenant, id).await?;
    if !FLOWS.contains(&flow) {
        return Err(ApiError::NotFound("flow"));
    }
    let current = templates::current(state, &tenant, id, flow).await?;
    let doc = &current.document;
    let targets = template_targets(doc);
    let schema = templates::target_schema(doc, flow, pair.erp);

    // The preview: pasted records, or the last N source records.
    let mut preview = PreviewView {
        sample: DEFAULT_SAMPLE,
        pasted: r.pasted.clone(),
        ..PreviewView::default()
    };
    let request = match r.preview {
        Some(req) => Some(req),
        None => match r.query.sample.as_deref().map(str::trim) {
            Some(n) => match n.parse::<i64>() {
                Ok(n) => {
                    preview.sample = n;
                    Some(PreviewRequest {
                        records: None,
                        sample: Some(n),
                        version: None,
                    })
                }
                Err(_) => {
                    preview.error = Some(format!("'{n}' is not a number of records"));
                    None
                }
            },
            None => Some(PreviewRequest {
                records: None,
                sample: Some(DEFAULT_SAMPLE),
                version: None,
            }),
        },
    };
    let mut problems: HashMap<usize, Vec<String>> = HashMap::new();
    if let Some(req) = request {
        match preview::run(state, &tenant, id, flow, req).await {
            Ok(PreviewResponse {
                results,
                references,
                ..
            }) => {
                preview.ran = true;
                preview.note = references.note;
                for result in results {
                    let rid = result.source_id.clone().unwrap_or_else(|| "record".into());
                    let mut errors = Vec::new();
                    for e in &result.errors {
                        let mut line = format!("`{}`: {}", e.field, e.message);
                        if let Some(v) = &e.value {
                            line.push_str(&format!(" (value {})", compact(Some(v))));
                        }
                        if let Some(s) = &e.suggestion {
                            line.push_str(&format!(" — {s}"));
                        }
                        if let Some(rule) = rule_for_field(&targets, &e.field) {
                            problems
                                .entry(rule)
                                .or_default()
                                .push(format!("{rid}: {line}"));
                        }
                        errors.push(line);
                    }
                    preview.results.push(PreviewRow {
                        id: rid,
                        source: pretty(&result.source),
                        output: result.output.as_ref().map_or_else(
                            || "(nothing: the record could not be mapped)".into(),
                            pretty,
                        ),
                        errors,
                    });
                }
            }
            Err(e @ (ApiError::BadRequest { .. } | ApiError::NotFound(_))) => {
                preview.error = Some(e.public_message());
            }
            Err(e) => return Err(e),
        }
    }

    let rules: Vec<RuleRow> = doc["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, rule)| {
            let (mut input, extras, multiline) = row_input(rule);
            if let Some((place, typed)) = &r.typed
                && *place == format!("rule-{index}")
            {
                input = typed.clone();
            }
            RuleRow {
                index,
                multiline: multiline || input.kind == "json",
                input,
                extras,
                problems: problems.remove(&index).unwrap_or_default(),
                checked: preview.ran,
            }
        })
        .collect();
    let new_rule = match &r.typed {
        Some((place, typed)) if place == "new-rule" => typed.clone(),
        _ => RowInput {
            kind: "source".into(),
            ..RowInput::default()
        },
    };
    let missing_required = schema
        .map(|s| {
            unmapped_targets(s, &targets)
                .into_iter()
                .filter(|o| o.required)
                .map(|o| o.field.path)
                .collect()
        })
        .unwrap_or_default();

    let mut suggestions: Vec<SuggestionGroup> = Vec::new();
    for s in suggestions::list(state, &tenant, id, flow).await? {
        match suggestions.last_mut() {
            Some(g) if g.target == s.target => g.candidates.push(s),
            _ => suggestions.push(SuggestionGroup {
                target: s.target.clone(),
                required: s.required,
                candidates: vec![s],
            }),
        }
    }

    let lookups = doc["lookups"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, table)| {
            let entries = table.as_object().map_or(0, Map::len);
            let editable = entries <= INLINE_LOOKUP_MAX;
            let mut rows: Vec<(String, String)> = table
                .as_object()
                .into_iter()
                .flatten()
                .take(INLINE_LOOKUP_MAX)
                .map(|(k, v)| (k.clone(), compact(Some(v))))
                .collect();
            if editable && can_edit {
                rows.extend((0..BLANK_LOOKUP_ROWS).map(|_| (String::new(), String::new())));
            }
            LookupView {
                name: name.clone(),
                entries,
                rows,
                editable,
            }
        })
        .collect();

    let versions: Vec<VersionRow> = templates::versions(state, &tenant, id, flow)
        .await?
        .into_iter()
        .map(|v| VersionRow {
            pinned: v.version == current.version,
            version: v.version,
            author: v.author,
            at: super::when(v.updated_at),
        })
        .collect();
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<i64>().ok());
    let (diff_from, diff_to) = (
        parse(&r.query.from).unwrap_or((current.version - 1).max(1)),
        parse(&r.query.to).unwrap_or(current.version),
    );
    let diff = if r.query.from.is_some() || r.query.to.is_some() {
        let a = templates::at_version(state, &tenant, id, flow, diff_from).await?;
        let b = templates::at_version(state, &tenant, id, flow, diff_to).await?;
        match (a, b) {
            (Some(a), Some(b)) => Some(diff_view(templates::diff::diff(
                a.version,
                &a.document,
                b.version,
                &b.document,
            ))),
            _ => None,
        }
    } else {
        None
    };

    let flash = r.query.done.as_deref().map(|done| {
        let v = r
            .query
            .saved
            .map(|v| format!(" as version {v}"))
            .unwrap_or_default();
        match done {
            "rule" => format!("Rule saved{v}."),
            "added" => format!("Rule added{v}."),
            "removed" => format!("Rule removed{v}."),
            "accepted" => format!("Suggestion accepted{v}."),
            "rejected" => "Suggestion rejected: it will not be offered again.".to_owned(),
            "lookup" => format!("Lookup table saved{v}."),
            "imported" => format!("CSV imported{v}."),
            "restored" => format!("Restored{v}."),
            "builtin" => format!("Pre-built template saved{v}."),
            _ => "Saved.".to_owned(),
        }
    });

    Ok(EditorPage {
        nav: u.nav,
        can_edit,
        role: u.who.role.as_str(),
        flows: templates::list(state, &tenant, id).await?,
        flow: flow.to_owned(),
        version: current.version,
        author: current.author,
        saved_at: super::when(current.created_at),
        record: schema.map_or_else(String::new, |s| s.record.clone()),
        rules,
        kinds: KINDS.to_vec(),
        new_rule,
        missing_required,
        suggestions,
        lookups,
        preview,
        versions,
        diff,
        diff_from,
        diff_to,
        builtins: templates::builtins(flow, pair.erp),
        flash,
        error: r.error,
        pair,
    }
    .into_response())
}

fn diff_view(d: TemplateDiff) -> DiffView {
    let rule_text = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let mut rules = Vec::new();
    for c in &d.rules.added {
        rules.push((c.target.clone(), "added", rule_text(&c.after)));
    }
    for c in &d.rules.removed {
        rules.push((c.target.clone(), "removed", rule_text(&c.before)));
    }
    for c in &d.rules.changed {
        rules.push((
            c.target.clone(),
            "changed",
            format!(
                "{} → {} ({})",
                rule_text(&c.before),
                rule_text(&c.after),
                c.keys.join(", ")
            ),
        ));
    }
    for c in &d.rules.moved {
        rules.push((
            c.target.clone(),
            "moved",
            format!(
                "position {} → {}",
                c.index_before.unwrap_or_default() + 1,
                c.index_after.unwrap_or_default() + 1
            ),
        ));
    }
    let mut values = Vec::new();
    for (section, list) in [
        ("settings", &d.settings),
        ("lookups", &d.lookups),
        ("conversions", &d.conversions),
        ("", &d.other),
    ] {
        for c in list {
            let path = if section.is_empty() {
                c.path.clone()
            } else {
                format!("{section}.{}", c.path)
            };
            values.push((
                path,
                c.change,
                format!(
                    "{} → {}",
                    compact(c.before.as_ref()),
                    compact(c.after.as_ref())
                ),
            ));
        }
    }
    DiffView {
        from: d.from,
        to: d.to,
        identical: d.identical,
        rules,
        values,
    }
}

pub async fn show(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Query(query): Query<EditorQuery>,
) -> Result<Response, ApiError> {
    render(
        &state,
        u,
        &id,
        &flow,
        Render {
            query: &query,
            preview: None,
            pasted: String::new(),
            error: None,
            typed: None,
        },
    )
    .await
}

fn back(id: &str, flow: &str, done: &str, saved: Option<i64>, anchor: &str) -> Response {
    let saved = saved.map(|v| format!("&saved={v}")).unwrap_or_default();
    Redirect::to(&format!(
        "/pairs/{id}/templates/{flow}?done={done}{saved}#{anchor}"
    ))
    .into_response()
}

/// Shows a refused edit on the page (422), with what was typed; other
/// errors (404, 403, 500) are answered as they are.
async fn refused(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    flow: &str,
    e: ApiError,
    place: &str,
    typed: Option<RowInput>,
) -> Response {
    if !matches!(e, ApiError::BadRequest { .. }) {
        return e.into_response();
    }
    let query = EditorQuery::default();
    let page = render(
        state,
        u,
        id,
        flow,
        Render {
            query: &query,
            preview: None,
            pasted: String::new(),
            error: Some(Refusal {
                place: place.to_owned(),
                message: e.public_message(),
            }),
            typed: typed.map(|t| (place.to_owned(), t)),
        },
    )
    .await;
    match page {
        Ok(mut resp) => {
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
        Err(e) => e.into_response(),
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or_default()
}

/// The checks every editing form starts with: the pair is the user's, the
/// form is current.
async fn guard(
    state: &AppState,
    u: &WebUser,
    id: &PairId,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    pairs::get(state, &u.who.tenant_id, id)
        .await
        .map_err(IntoResponse::into_response)?;
    check_csrf(field(form, "csrf"), &u.nav.csrf).map_err(IntoResponse::into_response)
}

/// [`guard`], and the user's role may change templates: a member's post is
/// refused before its content is looked at (their page offers no such form).
async fn guard_edit(
    state: &AppState,
    u: &WebUser,
    id: &PairId,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    guard(state, u, id, form).await?;
    u.who.require_manager().map_err(IntoResponse::into_response)
}

fn typed_row(form: &HashMap<String, String>) -> RowInput {
    RowInput {
        target: field(form, "target").to_owned(),
        kind: field(form, "kind").to_owned(),
        text: field(form, "text").to_owned(),
    }
}

/// Saves (or, with `remove`, deletes) rule `index`.
pub async fn save_rule(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, index)): IdPath<(PairId, String, usize)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    let place = format!("rule-{index}");
    let typed = typed_row(&form);
    let outcome = async {
        let mut doc = templates::current(&state, &u.who.tenant_id, &id, &flow)
            .await?
            .document;
        let rules = doc["rules"]
            .as_array_mut()
            .ok_or(ApiError::NotFound("rule"))?;
        if index >= rules.len() {
            return Err(ApiError::NotFound("rule"));
        }
        let removing = field(&form, "remove") == "1";
        if removing {
            rules.remove(index);
        } else {
            rules[index] = rule_from_input(&typed, Some(&rules[index]))?;
        }
        let action = if removing {
            "template.rule_removed"
        } else {
            "template.rule_saved"
        };
        let info = templates::save(&state, &u.who, &id, &flow, doc, action).await?;
        Ok((info, removing))
    }
    .await;
    match outcome {
        Ok((info, removed)) => Ok(back(
            &id,
            &flow,
            if removed { "removed" } else { "rule" },
            Some(info.version),
            "rules",
        )),
        Err(e) => Err(refused(&state, u, &id, &flow, e, &place, Some(typed)).await),
    }
}

pub async fn add_rule(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    let typed = typed_row(&form);
    let outcome = async {
        let mut doc = templates::current(&state, &u.who.tenant_id, &id, &flow)
            .await?
            .document;
        let rule = rule_from_input(&typed, None)?;
        doc["rules"]
            .as_array_mut()
            .ok_or(ApiError::NotFound("rules"))?
            .push(rule);
        templates::save(&state, &u.who, &id, &flow, doc, "template.rule_added").await
    }
    .await;
    match outcome {
        Ok(info) => Ok(back(&id, &flow, "added", Some(info.version), "rules")),
        Err(e) => Err(refused(&state, u, &id, &flow, e, "new-rule", Some(typed)).await),
    }
}

/// Runs the preview on pasted records (a JSON object or a list of them).
pub async fn preview_pasted(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard(&state, &u, &id, &form).await?;
    let text = field(&form, "records").to_owned();
    let parsed: Result<Vec<Value>, String> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(records)) => Ok(records),
        Ok(record @ Value::Object(_)) => Ok(vec![record]),
        Ok(_) => Err("paste one source record (a JSON object) or a list of them".into()),
        Err(e) => Err(format!("the pasted records are not JSON: {e}")),
    };
    let query = EditorQuery::default();
    let (request, error) = match parsed {
        Ok(records) => (
            Some(PreviewRequest {
                records: Some(records),
                sample: None,
                version: None,
            }),
            None,
        ),
        Err(message) => (None, Some(message)),
    };
    let page = render(
        &state,
        u,
        &id,
        &flow,
        Render {
            query: &query,
            preview: request.or(Some(PreviewRequest {
                records: None,
                sample: Some(DEFAULT_SAMPLE),
                version: None,
            })),
            pasted: text,
            error: error.map(|message| Refusal {
                place: "preview".into(),
                message,
            }),
            typed: None,
        },
    )
    .await;
    page.map_err(IntoResponse::into_response)
}

/// Saves a lookup table from the page's rows (`key_0`, `value_0` …); a row
/// with an empty key is dropped.
pub async fn save_lookup(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, table)): IdPath<(PairId, String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    let mut rows: Vec<(usize, &str, &str)> = form
        .iter()
        .filter_map(|(k, v)| {
            let i = k.strip_prefix("key_")?.parse::<usize>().ok()?;
            Some((i, v.trim(), field(&form, &format!("value_{i}")).trim()))
        })
        .filter(|(_, k, _)| !k.is_empty())
        .collect();
    rows.sort_by_key(|(i, _, _)| *i);
    let mut entries = Map::new();
    let mut duplicate = None;
    for (_, k, v) in rows {
        if entries
            .insert(k.to_owned(), Value::String(v.to_owned()))
            .is_some()
        {
            duplicate = Some(k.to_owned());
        }
    }
    let outcome = match duplicate {
        Some(k) => Err(ApiError::invalid(
            &table,
            format!("the key `{k}` is there twice"),
        )),
        None => {
            lookups::put(
                &state,
                &u.who,
                &id,
                &flow,
                &table,
                Value::Object(entries),
                "template.lookup_saved",
            )
            .await
        }
    };
    match outcome {
        Ok(info) => Ok(back(&id, &flow, "lookup", Some(info.version), "lookups")),
        Err(e) => Err(refused(&state, u, &id, &flow, e, &format!("lookup-{table}"), None).await),
    }
}

/// A lookup table as a CSV download.
pub async fn download_lookup(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, table)): IdPath<(PairId, String, String)>,
) -> Result<Response, ApiError> {
    pairs::get(&state, &u.who.tenant_id, &id).await?;
    let current = templates::current(&state, &u.who.tenant_id, &id, &flow).await?;
    let entries = lookups::table(&current.document, &table)?;
    let disposition = format!("attachment; filename=\"{}\"", lookups::file_name(&table));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        lookups::to_csv(entries)?,
    )
        .into_response())
}

/// Replaces a lookup table from an uploaded CSV file.
pub async fn upload_lookup(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, table)): IdPath<(PairId, String, String)>,
    request: Request,
) -> Result<Response, Response> {
    upload(&state, u, &id, &flow, Some(table), request).await
}

/// Adds (or replaces) a lookup table named in the form, from a CSV file.
pub async fn upload_new_lookup(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    request: Request,
) -> Result<Response, Response> {
    upload(&state, u, &id, &flow, None, request).await
}

async fn upload(
    state: &AppState,
    u: WebUser,
    id: &PairId,
    flow: &str,
    table: Option<String>,
    request: Request,
) -> Result<Response, Response> {
    // The pair first: another tenant's pair is a 404 whatever the body holds.
    pairs::get(state, &u.who.tenant_id, id)
        .await
        .map_err(IntoResponse::into_response)?;
    let mut multipart = Multipart::from_request(request, state).await.map_err(|_| {
        ApiError::invalid(
            "file",
            "send the CSV as a file upload (multipart/form-data)",
        )
        .into_response()
    })?;
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        let next = multipart.next_field().await.map_err(|e| {
            ApiError::invalid("file", format!("the upload could not be read: {e}")).into_response()
        })?;
        let Some(part) = next else { break };
        let name = part.name().unwrap_or_default().to_owned();
        let bytes = part.bytes().await.map_err(|e| {
            ApiError::invalid("file", format!("the upload could not be read: {e}")).into_response()
        })?;
        fields.insert(name, bytes.to_vec());
    }
    let text = |name: &str| {
        fields
            .get(name)
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .unwrap_or_default()
    };
    check_csrf(&text("csrf"), &u.nav.csrf).map_err(IntoResponse::into_response)?;
    u.who
        .require_manager()
        .map_err(IntoResponse::into_response)?;
    let (table, place) = match table {
        Some(t) => (t.clone(), format!("lookup-{t}")),
        None => (text("table"), "lookup-new".to_owned()),
    };
    let csv = fields.get("file").cloned().unwrap_or_default();
    let outcome = match lookups::check_name(&table).and_then(|()| lookups::from_csv(&csv)) {
        Ok(entries) => {
            lookups::put(
                state,
                &u.who,
                id,
                flow,
                &table,
                Value::Object(entries),
                "template.lookup_imported",
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(info) => Ok(back(id, flow, "imported", Some(info.version), "lookups")),
        Err(e) => Err(refused(state, u, id, flow, e, &place, None).await),
    }
}

pub async fn decide_suggestion(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, decision)): IdPath<(PairId, String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    let d = Decision {
        target: field(&form, "target").to_owned(),
        source: field(&form, "source").to_owned(),
    };
    let outcome = match decision.as_str() {
        "accept" => suggestions::accept(&state, &u.who, &id, &flow, d)
            .await
            .map(|info| ("accepted", Some(info.version))),
        "reject" => suggestions::reject(&state, &u.who, &id, &flow, d)
            .await
            .map(|()| ("rejected", None)),
        _ => Err(ApiError::NotFound("action")),
    };
    match outcome {
        Ok((done, version)) => Ok(back(&id, &flow, done, version, "suggestions")),
        Err(e) => Err(refused(&state, u, &id, &flow, e, "suggestions", None).await),
    }
}

pub async fn restore(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow, version)): IdPath<(PairId, String, i64)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    match templates::restore(&state, &u.who, &id, &flow, version).await {
        Ok(info) => Ok(back(&id, &flow, "restored", Some(info.version), "versions")),
        Err(e) => Err(refused(&state, u, &id, &flow, e, "versions", None).await),
    }
}

pub async fn builtin(
    State(state): State<AppState>,
    u: WebUser,
    IdPath((id, flow)): IdPath<(PairId, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Response> {
    guard_edit(&state, &u, &id, &form).await?;
    let variant = field(&form, "variant").to_owned();
    match templates::start_from_builtin(&state, &u.who, &id, &flow, &variant).await {
        Ok(info) => Ok(back(&id, &flow, "builtin", Some(info.version), "versions")),
        Err(e) => Err(refused(&state, u, &id, &flow, e, "builtin", None).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_rules_are_rows_and_keep_their_other_keys_when_saved() {
        let rule = json!({"target": "currency", "source": "currency", "transform": "upper", "optional": true});
        let (input, extras, multiline) = row_input(&rule);
        assert_eq!(
            (input.kind.as_str(), input.text.as_str()),
            ("source", "currency")
        );
        assert!(extras.contains("transform: upper"), "{extras}");
        assert!(!multiline);
        let edited = RowInput {
            target: "currency".into(),
            kind: "expr".into(),
            text: ".currency | ascii_downcase".into(),
        };
        let saved = rule_from_input(&edited, Some(&rule)).unwrap();
        assert_eq!(
            saved,
            json!({"target": "currency", "expr": ".currency | ascii_downcase", "transform": "upper", "optional": true})
        );
    }

    #[test]
    fn constants_are_json_when_they_parse_and_text_otherwise() {
        let (input, _, _) = row_input(&json!({"target": "state", "value": "Pending"}));
        assert_eq!(input.text, "\"Pending\"");
        let row = |text: &str| RowInput {
            target: "x".into(),
            kind: "value".into(),
            text: text.into(),
        };
        assert_eq!(
            rule_from_input(&row("12"), None).unwrap()["value"],
            json!(12)
        );
        assert_eq!(
            rule_from_input(&row("Each"), None).unwrap()["value"],
            json!("Each")
        );
        assert_eq!(
            rule_from_input(&row("\"12\""), None).unwrap()["value"],
            json!("12")
        );
    }

    #[test]
    fn complex_rules_are_edited_as_json_and_bad_json_names_the_text() {
        let rule = json!({"target": "sotransitems", "each": {"source": "lineItems", "rules": []}});
        let (input, _, multiline) = row_input(&rule);
        assert_eq!(input.kind, "json");
        assert!(multiline);
        let back = rule_from_input(&input, Some(&rule)).unwrap();
        assert_eq!(back, rule);
        let broken = RowInput {
            text: "{nope".into(),
            ..input
        };
        assert_eq!(
            rule_from_input(&broken, None).unwrap_err().field(),
            Some("text")
        );
    }

    #[test]
    fn preview_problems_find_the_rule_that_writes_the_field() {
        let doc = json!({"rules": [
            {"target": "customerid", "source": "customerId"},
            {"target": "sotransitems", "each": {"source": "lineItems", "rules": [{"target": "itemid", "source": "sku"}]}}
        ]});
        let targets = template_targets(&doc);
        assert_eq!(rule_for_field(&targets, "sotransitems[1].itemid"), Some(1));
        assert_eq!(rule_for_field(&targets, "customerid"), Some(0));
        assert_eq!(rule_for_field(&targets, "termname"), None);
        assert_eq!(without_indexes("a[12].b[3].c"), "a[].b[].c");
    }
}
