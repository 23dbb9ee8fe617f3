//! What every list endpoint shares (spec §1, "Pagination and incremental
//! reads"): `Page`, `PageSize`, inclusive `ModifiedSince`, `SortBy`, the
//! entity filters' matching rules and the `{Data, Page, …}` envelope.
//!
//! A list takes those four parameters and the entity filters its endpoint
//! lists (spec §3), nothing else: any other parameter, like a bad value, is
//! a malformed query string, `400 BAD_REQUEST` naming it in `Details`.

use super::wire::ListPage;
use axum::Json;
use axum::response::{IntoResponse, Response};
use sqlx::any::AnyRow;

use super::{SpError, SpResult};
use crate::clarity::{Bind, Filter, ListParams, parse_time_ms};
use connect_store::{Db, DbKind};

/// The parameters every list takes besides its entity filters.
const COMMON_PARAMS: [&str; 4] = ["Page", "PageSize", "ModifiedSince", "SortBy"];

/// The fields a list may sort on, as (wire name, SQL expression), and the
/// record key that ends every order so that equal values page stably.
pub(super) struct Sorting {
    pub fields: &'static [(&'static str, &'static str)],
    pub key: &'static str,
}

/// Sortable on every list: the two columns each table has.
const COMMON_SORT: [(&str, &str); 2] = [
    ("LastModified", "last_modified"),
    ("RowVersion", "row_version"),
];

impl Sorting {
    /// `ORDER BY` for `SortBy`: comma-separated (or repeated) field names,
    /// ascending, matched case-insensitively; absent means `LastModified`.
    /// An unknown field is `400` naming it and the fields that sort.
    fn order_by(&self, params: &ListParams) -> SpResult<String> {
        let requested: Vec<&str> = params
            .all("SortBy")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut columns = Vec::new();
        for name in &requested {
            let column = COMMON_SORT
                .iter()
                .chain(self.fields)
                .find(|(field, _)| field.eq_ignore_ascii_case(name))
                .map(|(_, column)| *column)
                .ok_or_else(|| {
                    let known: Vec<&str> = COMMON_SORT
                        .iter()
                        .chain(self.fields)
                        .map(|(f, _)| *f)
                        .collect();
                    SpError::bad_request(format!("Unknown SortBy field '{name}'")).detail(
                        "SortBy",
                        format!("'{name}' is not one of {}", known.join(", ")),
                    )
                })?;
            columns.push(format!("{column} ASC"));
        }
        if columns.is_empty() {
            columns.push("last_modified ASC".to_owned());
        }
        columns.extend(self.key.split(", ").map(|k| format!("{k} ASC")));
        Ok(columns.join(", "))
    }
}

/// One list request: its parameters, the filter built from them so far and
/// the page and order asked for.
pub(super) struct ListQuery {
    pub params: ListParams,
    pub filter: Filter,
    kind: DbKind,
    page: u32,
    size: u32,
    order_by: String,
}

impl ListQuery {
    /// Reads the parameters every list takes; `filters` are the entity
    /// filters the endpoint lists. `400 BAD_REQUEST` on a parameter that is
    /// neither, or on a bad value.
    pub(super) fn parse(
        raw: Option<&str>,
        pair_id: &str,
        kind: DbKind,
        filters: &[&str],
        sorting: &Sorting,
    ) -> SpResult<Self> {
        for (name, _) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let known = COMMON_PARAMS
                .iter()
                .chain(filters)
                .any(|p| p.eq_ignore_ascii_case(&name));
            if !known {
                let mut accepted: Vec<&str> = filters.to_vec();
                accepted.extend(COMMON_PARAMS);
                return Err(
                    SpError::bad_request(format!("Unknown query parameter '{name}'")).detail(
                        &name,
                        format!("'{name}' is not one of {}", accepted.join(", ")),
                    ),
                );
            }
        }
        let params = ListParams::parse(raw);
        let page = match params.one("Page") {
            Some(p) => positive(p, "Page")?,
            None => 1,
        };
        // PageSize: default 100, at most 500.
        let size = match params.one("PageSize") {
            Some(p) => positive(p, "PageSize")?.min(500),
            None => 100,
        };
        let mut filter = Filter::new(pair_id);
        if let Some(s) = params.one("ModifiedSince") {
            let t = parse_time_ms(s).ok_or_else(|| {
                SpError::bad_request("ModifiedSince must be an RFC 3339 time")
                    .detail("ModifiedSince", format!("'{s}' is not an RFC 3339 time"))
            })?;
            filter.cond("last_modified", ">=", Bind::Int(t));
        }
        let order_by = sorting.order_by(&params)?;
        Ok(Self {
            params,
            filter,
            kind,
            page,
            size,
            order_by,
        })
    }

    /// The text of the record's field `field`, read from the JSON in `body`.
    pub(super) fn body_field(&self, field: &str) -> String {
        debug_assert!(field.chars().all(|c| c.is_ascii_alphanumeric()));
        match self.kind {
            DbKind::Sqlite => format!("json_extract(body, '$.{field}')"),
            DbKind::Postgres => format!("(CAST(body AS json) ->> '{field}')"),
        }
    }

    /// Exact match on a code column, upper-cased as Sage Pro keys are;
    /// repeated values are OR-ed.
    pub(super) fn codes(&mut self, param: &str, column: &str) {
        let values: Vec<String> = self
            .params
            .all(param)
            .iter()
            .map(|v| v.trim().to_uppercase())
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        self.filter.any_of(column, &refs, false);
    }

    /// Exact match on the value as sent; repeated values are OR-ed.
    pub(super) fn exact(&mut self, param: &str, column: &str) {
        let values = self.params.all(param);
        self.filter.any_of(column, &values, false);
    }

    /// Exact match on an enum column (the value named in any case is the
    /// spec's spelling); a value outside `allowed` is `400`. Repeated values
    /// are OR-ed.
    pub(super) fn one_of(&mut self, param: &str, column: &str, allowed: &[&str]) -> SpResult<()> {
        let values = self.enum_values(param, allowed)?;
        self.filter.any_of(column, &values, false);
        Ok(())
    }

    /// The values of `param`, each one of `allowed` as the spec spells it.
    pub(super) fn enum_values<'a>(
        &self,
        param: &str,
        allowed: &[&'a str],
    ) -> SpResult<Vec<&'a str>> {
        self.params
            .all(param)
            .into_iter()
            .map(|v| {
                allowed
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(v.trim()))
                    .copied()
                    .ok_or_else(|| {
                        SpError::bad_request(format!("Unknown {param} '{v}'"))
                            .detail(param, format!("'{v}' is not one of {}", allowed.join(", ")))
                    })
            })
            .collect()
    }

    /// `{from}` and `{to}` bounds, inclusive, on a `YYYY-MM-DD` column; a
    /// value that is not such a date is `400`.
    pub(super) fn date_range(&mut self, from: &str, to: &str, column: &str) -> SpResult<()> {
        for (param, op) in [(from, ">="), (to, "<=")] {
            if let Some(d) = self.params.one(param) {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                let date = time::Date::parse(d.trim(), &fmt).map_err(|_| {
                    SpError::bad_request(format!("{param} must be a YYYY-MM-DD date"))
                        .detail(param, format!("'{d}' is not a YYYY-MM-DD date"))
                })?;
                self.filter.cond(column, op, Bind::Text(date.to_string()));
            }
        }
        Ok(())
    }

    /// `LIKE 'prefix%'` on `column`, the prefix taken literally.
    pub(super) fn starts_with(&mut self, column: &str, prefix: &str) {
        let p = self
            .filter
            .push(Bind::Text(format!("{}%", escape_like(prefix))));
        self.filter
            .clauses
            .push(format!("{column} LIKE {p} ESCAPE '\\'"));
    }

    /// Case-insensitive `LIKE '%part%'` on any of `exprs`, the part taken
    /// literally.
    pub(super) fn contains(&mut self, exprs: &[String], part: &str) {
        let p = self.filter.push(Bind::Text(format!(
            "%{}%",
            escape_like(&part.to_lowercase())
        )));
        let any: Vec<String> = exprs
            .iter()
            .map(|e| format!("LOWER(COALESCE({e}, '')) LIKE {p} ESCAPE '\\'"))
            .collect();
        self.filter.clauses.push(format!("({})", any.join(" OR ")));
    }

    /// Exact match on the body's `field` (a text field of the record);
    /// repeated values are OR-ed.
    pub(super) fn body_any_of(&mut self, field: &str, values: &[&str]) {
        let expr = self.body_field(field);
        self.filter.any_of(&expr, values, false);
    }

    /// A page of records kept as JSON in `table.body`.
    pub(super) async fn body_page(self, db: &Db, table: &str) -> SpResult<Response> {
        self.page_of(db, table, "body", |row| {
            use sqlx::Row;
            let body: String = row.try_get(0)?;
            serde_json::from_str(&body).map_err(SpError::internal)
        })
        .await
    }

    /// A page of `columns` from `table`, each row made a record by `record`.
    pub(super) async fn page_of(
        self,
        db: &Db,
        table: &str,
        columns: &str,
        record: impl Fn(&AnyRow) -> SpResult<serde_json::Value>,
    ) -> SpResult<Response> {
        use sqlx::Row;
        let Self {
            mut filter,
            page,
            size,
            order_by,
            ..
        } = self;
        let where_sql = filter.where_sql();
        let total: i64 = filter
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE {where_sql}"
            ))))
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        let skipped = i64::from(size) * (i64::from(page) - 1);
        let limit = filter.push(Bind::Int(i64::from(size)));
        let offset = filter.push(Bind::Int(skipped));
        let rows = filter
            .bind_all(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM {table} WHERE {where_sql} \
                 ORDER BY {order_by} LIMIT {limit} OFFSET {offset}"
            ))))
            .fetch_all(db.pool())
            .await?;
        let data = rows.iter().map(record).collect::<SpResult<Vec<_>>>()?;
        let seen = skipped + data.len() as i64;
        Ok(Json(ListPage {
            data,
            page,
            page_size: size,
            total_count: total.max(0) as u64,
            has_more: seen < total,
        })
        .into_response())
    }
}

fn positive(value: &str, param: &str) -> SpResult<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| {
            SpError::bad_request(format!("{param} must be a positive integer"))
                .detail(param, format!("'{value}' is not a positive integer"))
        })
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: Sorting = Sorting {
        fields: &[("CustomerNo", "customer_no")],
        key: "sales_order_no",
    };

    fn order_by(query: &str) -> SpResult<String> {
        ORDERS.order_by(&ListParams::parse(Some(query)))
    }

    #[test]
    fn the_default_order_is_last_modified_then_the_key() {
        assert_eq!(
            order_by("").unwrap(),
            "last_modified ASC, sales_order_no ASC"
        );
    }

    #[test]
    fn sort_fields_are_listed_or_repeated_and_end_with_the_key() {
        assert_eq!(
            order_by("SortBy=customerno,RowVersion").unwrap(),
            "customer_no ASC, row_version ASC, sales_order_no ASC"
        );
        assert_eq!(
            order_by("SortBy=CustomerNo&SortBy=LastModified").unwrap(),
            "customer_no ASC, last_modified ASC, sales_order_no ASC"
        );
    }

    #[test]
    fn an_unknown_sort_field_is_named() {
        let e = order_by("SortBy=CustomerNo,Colour").unwrap_err();
        assert_eq!(e.body.error.code, "BAD_REQUEST");
        assert!(e.body.error.message.contains("'Colour'"));
        assert_eq!(e.body.error.details[0].field, "SortBy");
        assert!(order_by("SortBy=").is_err(), "an empty name is no field");
    }
}
