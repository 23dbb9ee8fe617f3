//! The store's JSON documents (products, customers, coupons, returns): one
//! table each with the body as JSON and the columns lookups need copied out.
//! Create, replace (PUT) and partial update (PATCH) work the same on all of
//! them: only writable fields may change, `If-Match` guards the version, the
//! natural key stays unique (409 `CONFLICT` with `existingId`), every change
//! bumps `version` and emits exactly one event in its transaction.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use serde_json::{Map, Value};

use super::idempotency::Idempotency;
use super::orders::if_match;
use super::query::{Enums, page_of};
use super::{ApiError, ApiResult, Bind, ListParams, authorize, next_counter, rfc3339_ms, webhooks};
use crate::SandboxState;
use connect_store::{is_unique_violation, now_ms};

/// Fields the store sets; a client may send them back unchanged.
const SERVER_FIELDS: &[&str] = &["version", "createdDate", "updatedDate"];

/// A natural key other than the id (`sku`, `email`).
pub(crate) struct Unique {
    pub column: &'static str,
    pub field: &'static str,
    pub lower: bool,
}

/// How the store assigns ids: `P-10001`, … from a per-pair counter, or taken
/// from the body (coupons are named by their code).
pub(crate) enum IdRule {
    Counter {
        name: &'static str,
        prefix: &'static str,
        start: i64,
    },
    FromBody,
}

/// One kind of document.
pub(crate) struct Kind {
    /// Event prefix and the word in messages: `product`.
    pub entity: &'static str,
    /// The collection's path: `/products`.
    pub path: &'static str,
    pub table: &'static str,
    pub id_col: &'static str,
    pub id_field: &'static str,
    /// Ids compare case-insensitively (coupon codes): the column holds them lower-cased.
    pub id_lower: bool,
    pub ids: IdRule,
    pub read_scope: &'static str,
    pub write_scope: &'static str,
    /// Every field of the body (what lists may filter and sort on).
    pub fields: &'static [&'static str],
    /// The enum fields among them, with their values (list filters check them).
    pub enums: Enums,
    pub writable: &'static [&'static str],
    pub unique: Option<Unique>,
    /// Columns copied out of the body, beside the id, version, body and times.
    pub columns: fn(&Value) -> Vec<(&'static str, Bind)>,
    /// A column kept outside the body and merged into it on read (a usage
    /// counter bumped by other writes without a new version).
    pub counter: Option<(&'static str, &'static str)>,
    /// Fills the fields a create may leave out.
    pub defaults: fn(&mut Map<String, Value>),
    /// Checks a whole document before it is written (422 naming the field).
    pub validate: fn(&Value) -> ApiResult<()>,
}

impl Kind {
    fn id_value(&self, id: &str) -> String {
        if self.id_lower {
            id.to_lowercase()
        } else {
            id.to_owned()
        }
    }

    fn select(&self) -> String {
        let counter = self.counter.map_or("version", |(c, _)| c);
        format!("SELECT body, version, {counter} FROM {}", self.table)
    }

    fn hydrate(&self, (body, version, counter): (String, i64, i64)) -> ApiResult<Value> {
        let mut v: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
        v["version"] = version.into();
        if let Some((_, field)) = self.counter {
            v[field] = counter.into();
        }
        Ok(v)
    }
}

pub(crate) async fn load_one(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    kind: &Kind,
    id: &str,
) -> ApiResult<Option<Value>> {
    let sql = format!(
        "{} WHERE pair_id = $1 AND {} = $2",
        kind.select(),
        kind.id_col
    );
    let row: Option<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pair_id)
        .bind(kind.id_value(id))
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| kind.hydrate(r)).transpose()
}

async fn load_all(state: &SandboxState, pair_id: &str, kind: &Kind) -> ApiResult<Vec<Value>> {
    let sql = format!("{} WHERE pair_id = $1", kind.select());
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pair_id)
        .fetch_all(state.db.pool())
        .await?;
    rows.into_iter().map(|r| kind.hydrate(r)).collect()
}

pub(crate) fn with_etag(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, Json(value)).into_response();
    if let Some(v) = value.get("version").and_then(Value::as_i64)
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        r.headers_mut().insert(header::ETAG, h);
    }
    r
}

// ---------------------------------------------------------------------------
// Routes: every document kind answers the same verbs through the functions
// below, so its module only describes the kind.

/// `GET` (list) and `POST` (create) on a kind's collection.
pub(super) fn collection_routes(kind: &'static Kind) -> MethodRouter<SandboxState> {
    routing::get(
        move |State(state): State<SandboxState>,
              Path(pair_id): Path<String>,
              RawQuery(raw): RawQuery,
              headers: HeaderMap| async move {
            list(&state, &pair_id, kind, &headers, raw.as_deref()).await
        },
    )
    .post(
        move |State(state): State<SandboxState>,
              Path(pair_id): Path<String>,
              headers: HeaderMap,
              body: Bytes| async move { create(&state, &pair_id, kind, &headers, &body).await },
    )
}

/// `GET`, `PATCH` and, when the spec lists it for the kind (`replace`),
/// `PUT` on one document.
pub(super) fn document_routes(kind: &'static Kind, replace: bool) -> MethodRouter<SandboxState> {
    routing::get(
        move |State(state): State<SandboxState>,
              Path((pair_id, id)): Path<(String, String)>,
              headers: HeaderMap| async move {
            get(&state, &pair_id, kind, &headers, &id).await
        },
    )
    .merge(write_routes(kind, replace))
}

/// `PATCH` and, with `replace`, `PUT` on one document: for a kind whose
/// single `GET` is its own.
pub(super) fn write_routes(kind: &'static Kind, replace: bool) -> MethodRouter<SandboxState> {
    let write = move |mode: Write| {
        move |State(state): State<SandboxState>,
              Path((pair_id, id)): Path<(String, String)>,
              headers: HeaderMap,
              body: Bytes| async move {
            update(&state, &pair_id, kind, &headers, &id, &body, mode).await
        }
    };
    let routes = routing::patch(write(Write::Patch));
    if replace {
        routes.put(write(Write::Replace))
    } else {
        routes
    }
}

/// `GET /{collection}` with the Phoenix filters.
pub(crate) async fn list(
    state: &SandboxState,
    pair_id: &str,
    kind: &Kind,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> ApiResult<Response> {
    authorize(state, pair_id, headers, kind.read_scope).await?;
    let params = ListParams::parse(raw);
    let records = load_all(state, pair_id, kind).await?;
    let page = page_of(records, &params, kind.fields, kind.enums, &[kind.id_field])?;
    Ok(Json(page).into_response())
}

/// `GET /{collection}/{id}` with its `ETag`.
pub(crate) async fn get(
    state: &SandboxState,
    pair_id: &str,
    kind: &Kind,
    headers: &HeaderMap,
    id: &str,
) -> ApiResult<Response> {
    authorize(state, pair_id, headers, kind.read_scope).await?;
    let mut conn = state.db.pool().acquire().await?;
    let doc = load_one(&mut conn, pair_id, kind, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{} {id} does not exist", kind.entity)))?;
    Ok(with_etag(StatusCode::OK, &doc))
}

pub(crate) fn parse_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body is not a JSON object: {e}")))
}

/// A field the client may not set: unknown (422 `UNKNOWN_FIELD`) or the
/// store's own (422 `READ_ONLY`, unless sent back unchanged).
fn check_fields(
    kind: &Kind,
    input: &Map<String, Value>,
    current: Option<&Value>,
    id_writable: bool,
) -> ApiResult<()> {
    for (key, value) in input {
        if kind.writable.contains(&key.as_str()) || (id_writable && key == kind.id_field) {
            continue;
        }
        if !kind.fields.contains(&key.as_str()) {
            return Err(ApiError::validation(
                key,
                "UNKNOWN_FIELD",
                format!("{} has no field {key}", kind.entity),
            ));
        }
        let unchanged = current.is_some_and(|c| {
            c.get(key).is_some_and(|old| {
                old == value
                    || (key == kind.id_field
                        && old.as_str().zip(value.as_str()).is_some_and(|(a, b)| {
                            if kind.id_lower {
                                a.eq_ignore_ascii_case(b)
                            } else {
                                a == b
                            }
                        }))
            })
        });
        // A create may carry the store's own fields (a copied record): they are dropped.
        let dropped = current.is_none() && SERVER_FIELDS.contains(&key.as_str());
        if !(unchanged || dropped) {
            return Err(ApiError::validation(
                key,
                "READ_ONLY",
                format!("{key} is set by the store"),
            ));
        }
    }
    Ok(())
}

/// The keys of a body written to something other than a document kind
/// (shipments, returns, inventory, order patches): `writable` ones pass;
/// `read_only` ones (the store's) pass when they hold what `current` holds,
/// and a create may carry the store's own `SERVER_FIELDS` (dropped), else
/// 422 `READ_ONLY`; any other key is 422 `UNKNOWN_FIELD`. `at` prefixes the
/// field named in the error (`lines[0].`).
pub(crate) fn check_keys(
    entity: &str,
    at: &str,
    input: &Map<String, Value>,
    writable: &[&str],
    read_only: &[&str],
    current: Option<&Value>,
) -> ApiResult<()> {
    for (key, value) in input {
        let key = key.as_str();
        if writable.contains(&key) {
            continue;
        }
        let field = format!("{at}{key}");
        if !read_only.contains(&key) {
            return Err(ApiError::validation(
                &field,
                "UNKNOWN_FIELD",
                format!("{entity} has no field {key}"),
            ));
        }
        let unchanged = current.is_some_and(|c| c.get(key) == Some(value));
        let dropped = current.is_none() && SERVER_FIELDS.contains(&key);
        if !(unchanged || dropped) {
            return Err(ApiError::validation(
                &field,
                "READ_ONLY",
                format!(
                    "{key} is set by the store; {entity} takes {}",
                    writable.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// 409 `CONFLICT` with `existingId` when another document holds the key.
async fn check_unique(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    kind: &Kind,
    doc: &Value,
    own_id: Option<&str>,
) -> ApiResult<()> {
    let (column, field, lower) = match &kind.unique {
        Some(u) => (u.column, u.field, u.lower),
        None => (kind.id_col, kind.id_field, kind.id_lower),
    };
    let Some(value) = doc[field].as_str() else {
        return Ok(());
    };
    let key = if lower {
        value.to_lowercase()
    } else {
        value.to_owned()
    };
    let sql = format!(
        "SELECT body FROM {} WHERE pair_id = $1 AND {column} = $2",
        kind.table
    );
    let row: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(pair_id)
        .bind(&key)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((body,)) = row else {
        return Ok(());
    };
    let existing: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    let existing_id = existing[kind.id_field]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if own_id.is_some_and(|own| kind.id_value(own) == kind.id_value(&existing_id)) {
        return Ok(());
    }
    Err(ApiError::conflict(
        format!("a {} with {field} '{value}' already exists", kind.entity),
        Some(existing_id),
    ))
}

pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    kind: &Kind,
    doc: &Value,
    now: i64,
) -> ApiResult<()> {
    let id = doc[kind.id_field].as_str().unwrap_or_default();
    let mut cols = vec![
        "pair_id",
        kind.id_col,
        "version",
        "body",
        "created_at",
        "updated_at",
    ];
    let mut binds = vec![
        Bind::Text(pair_id.to_owned()),
        Bind::Text(kind.id_value(id)),
        Bind::Int(doc["version"].as_i64().unwrap_or(1)),
        Bind::Text(doc.to_string()),
        Bind::Int(now),
        Bind::Int(now),
    ];
    for (c, b) in (kind.columns)(doc) {
        cols.push(c);
        binds.push(b);
    }
    if let Some((column, _)) = kind.counter {
        cols.push(column);
        binds.push(Bind::Int(0));
    }
    let placeholders: Vec<String> = (1..=binds.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        kind.table,
        cols.join(", "),
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    match q.execute(&mut *conn).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
            format!(
                "a {} with this key was created at the same time",
                kind.entity
            ),
            None,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Writes `doc` back with its version bumped and emits `event` with the old
/// values of what changed.
pub(crate) async fn save(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    kind: &Kind,
    doc: &mut Value,
    previous: Value,
    event: &str,
    now: i64,
) -> ApiResult<()> {
    let version = doc["version"].as_i64().unwrap_or(0) + 1;
    doc["version"] = version.into();
    doc["updatedDate"] = rfc3339_ms(now).into();
    let id = doc[kind.id_field].as_str().unwrap_or_default().to_owned();
    let mut sets = vec![
        "version = $3".to_owned(),
        "body = $4".to_owned(),
        "updated_at = $5".to_owned(),
    ];
    let mut binds = vec![
        Bind::Int(version),
        Bind::Text(doc.to_string()),
        Bind::Int(now),
    ];
    for (c, b) in (kind.columns)(doc) {
        binds.push(b);
        sets.push(format!("{c} = ${}", binds.len() + 2));
    }
    let sql = format!(
        "UPDATE {} SET {} WHERE pair_id = $1 AND {} = $2",
        kind.table,
        sets.join(", "),
        kind.id_col
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id.to_owned())
        .bind(kind.id_value(&id));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q.execute(&mut *conn).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::conflict(format!("another {} holds this key", kind.entity), None)
        } else {
            e.into()
        }
    })?;
    webhooks::emit(conn, pair_id, event, doc.clone(), Some(previous), now).await?;
    Ok(())
}

/// `POST /{collection}`: 201 with the document, `Location` and `ETag`.
pub(crate) async fn create(
    state: &SandboxState,
    pair_id: &str,
    kind: &Kind,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    authorize(state, pair_id, headers, kind.write_scope).await?;
    let idem = Idempotency::from_request(headers, format!("POST {}", kind.path), body)?;
    let mut input = parse_object(body)?;
    let id_from_body = matches!(kind.ids, IdRule::FromBody);
    check_fields(kind, &input, None, id_from_body)?;
    for f in SERVER_FIELDS {
        input.remove(*f);
    }
    (kind.defaults)(&mut input);
    let mut doc = Value::Object(input);
    (kind.validate)(&doc)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(replay) = idem.replay(&mut tx, pair_id).await? {
        return Ok(replay);
    }
    check_unique(&mut tx, pair_id, kind, &doc, None).await?;
    if let IdRule::Counter {
        name,
        prefix,
        start,
    } = kind.ids
    {
        let n = next_counter(&mut tx, pair_id, name, start, 1).await?;
        doc[kind.id_field] = format!("{prefix}{n}").into();
    }
    doc["version"] = 1.into();
    doc["createdDate"] = rfc3339_ms(now).into();
    doc["updatedDate"] = rfc3339_ms(now).into();
    if let Some((_, field)) = kind.counter {
        doc[field] = 0.into();
    }
    insert(&mut tx, pair_id, kind, &doc, now).await?;
    webhooks::emit(
        &mut tx,
        pair_id,
        &format!("{}.created", kind.entity),
        doc.clone(),
        None,
        now,
    )
    .await?;
    idem.store(&mut tx, pair_id, StatusCode::CREATED, &doc)
        .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    let mut r = with_etag(StatusCode::CREATED, &doc);
    let id = doc[kind.id_field].as_str().unwrap_or_default();
    if let Ok(h) = HeaderValue::from_str(&format!("/api/v1{}/{id}", kind.path)) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    Ok(r)
}

/// Replace (`PUT`) or partial update (`PATCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Replace,
    Patch,
}

/// `PUT`/`PATCH /{collection}/{id}`: 200 with the document and its new `ETag`;
/// 412 when `If-Match` names another version.
pub(crate) async fn update(
    state: &SandboxState,
    pair_id: &str,
    kind: &Kind,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    mode: Write,
) -> ApiResult<Response> {
    authorize(state, pair_id, headers, kind.write_scope).await?;
    let input = parse_object(body)?;
    let expected = if_match(headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let doc = load_one(&mut tx, pair_id, kind, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{} {id} does not exist", kind.entity)))?;
    if let Some(v) = expected
        && doc["version"].as_i64() != Some(v)
    {
        return Err(ApiError::precondition(format!(
            "{} {id} is at version {}, not {v}",
            kind.entity, doc["version"]
        )));
    }
    check_fields(kind, &input, Some(&doc), false)?;
    let mut next = doc.clone();
    match mode {
        Write::Replace => {
            let mut fresh: Map<String, Value> = kind
                .writable
                .iter()
                .filter_map(|f| input.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect();
            (kind.defaults)(&mut fresh);
            for f in kind.writable {
                next[*f] = fresh.remove(*f).unwrap_or(Value::Null);
            }
        }
        Write::Patch => {
            for (key, value) in &input {
                if !kind.writable.contains(&key.as_str()) {
                    continue;
                }
                next[key] = match (&doc[key], value) {
                    // Partial-object patching (spec §0.3): keys sent replace,
                    // null removes, others stay.
                    (Value::Object(old), Value::Object(new)) => {
                        let mut merged = old.clone();
                        for (k, v) in new {
                            if v.is_null() {
                                merged.remove(k);
                            } else {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                        Value::Object(merged)
                    }
                    _ => value.clone(),
                };
            }
        }
    }
    (kind.validate)(&next)?;
    let mut previous = Map::new();
    for f in kind.writable {
        if doc[*f] != next[*f] {
            previous.insert((*f).to_owned(), doc[*f].clone());
        }
    }
    if previous.is_empty() {
        return Ok(with_etag(StatusCode::OK, &doc));
    }
    if let Some(u) = &kind.unique
        && previous.contains_key(u.field)
    {
        check_unique(&mut tx, pair_id, kind, &next, Some(id)).await?;
    }
    save(
        &mut tx,
        pair_id,
        kind,
        &mut next,
        Value::Object(previous),
        &format!("{}.updated", kind.entity),
        now,
    )
    .await?;
    tx.commit().await?;
    webhooks::wake_dispatcher();
    Ok(with_etag(StatusCode::OK, &next))
}

// --- field checks shared by the kinds ---------------------------------------

pub(crate) fn require_text(doc: &Value, field: &str) -> ApiResult<()> {
    match doc[field].as_str() {
        Some(s) if !s.trim().is_empty() => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "REQUIRED",
            format!("{field} is required"),
        )),
    }
}

pub(crate) fn optional_text(doc: &Value, field: &str) -> ApiResult<()> {
    match &doc[field] {
        Value::Null | Value::String(_) => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "INVALID_TYPE",
            "must be a string",
        )),
    }
}

pub(crate) fn one_of(doc: &Value, field: &str, allowed: &[&str]) -> ApiResult<()> {
    match doc[field].as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "INVALID_ENUM",
            format!("{field} must be one of {}", allowed.join(", ")),
        )),
    }
}

pub(crate) fn boolean(doc: &Value, field: &str) -> ApiResult<()> {
    if doc[field].is_boolean() {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            "INVALID_TYPE",
            "must be true or false",
        ))
    }
}

pub(crate) fn object(doc: &Value, field: &str) -> ApiResult<()> {
    if doc[field].is_object() {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            "INVALID_TYPE",
            "must be an object",
        ))
    }
}

/// Money (spec §1): a decimal string with at most two places, not negative.
pub(crate) fn money(doc: &Value, field: &str, required: bool) -> ApiResult<()> {
    let bad = || {
        ApiError::validation(
            field,
            "INVALID_MONEY",
            "must be a decimal string with at most 2 places, e.g. \"19.99\"",
        )
    };
    match &doc[field] {
        Value::Null if !required => Ok(()),
        Value::String(s) => {
            let d: rust_decimal::Decimal = s.parse().map_err(|_| bad())?;
            if d.scale() > 2 || d.is_sign_negative() {
                return Err(bad());
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}

pub(crate) fn currency(doc: &Value, field: &str, required: bool) -> ApiResult<()> {
    match &doc[field] {
        Value::Null if !required => Ok(()),
        Value::String(s) if s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()) => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "INVALID_CURRENCY",
            "must be an ISO 4217 code such as USD",
        )),
    }
}

pub(crate) fn time_or_null(doc: &Value, field: &str) -> ApiResult<()> {
    match &doc[field] {
        Value::Null => Ok(()),
        Value::String(s) if super::parse_time_ms(s).is_some() => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "INVALID",
            "must be an RFC 3339 time",
        )),
    }
}

pub(crate) fn string_list(doc: &Value, field: &str) -> ApiResult<()> {
    match doc[field].as_array() {
        Some(items) if items.iter().all(Value::is_string) => Ok(()),
        _ => Err(ApiError::validation(
            field,
            "INVALID_TYPE",
            "must be a list of strings",
        )),
    }
}
