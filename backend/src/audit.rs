//! The audit log: who changed what, when, in which tenant. Rows are written on
//! the same connection (transaction) as the change they record.
//!
//! Read back with [`search`] and an [`AuditFilter`] (actor, action, UTC days,
//! how many), parsed from a query string's values by [`AuditFilter::parse`];
//! [`to_csv`] writes the rows for a spreadsheet.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::db::now_ms;
use crate::ids::new_id;

pub struct Actor<'a> {
    pub id: Option<&'a str>,
    pub email: Option<&'a str>,
}

impl<'a> Actor<'a> {
    pub fn user(id: &'a str, email: &'a str) -> Self {
        Self {
            id: Some(id),
            email: Some(email),
        }
    }

    pub fn system() -> Self {
        Self {
            id: None,
            email: None,
        }
    }
}

pub async fn record(
    conn: &mut sqlx::AnyConnection,
    tenant_id: Option<&str>,
    actor: &Actor<'_>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor_id, actor_email, action, target, detail, at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(new_id("aud"))
    .bind(tenant_id)
    .bind(actor.id)
    .bind(actor.email)
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub tenant_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

/// How many entries a search returns when the caller does not say.
pub const DEFAULT_LIMIT: i64 = 200;
/// The most entries one search returns.
pub const MAX_LIMIT: i64 = 1000;
/// The longest actor or action filter accepted.
const MAX_FILTER_LEN: usize = 254;

const DAY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A filter's values as a query string or a form carries them, unchecked;
/// an empty value is the same as none.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterQuery {
    /// Only entries whose actor's email contains this text, in any case.
    pub actor: Option<String>,
    /// One action (`pair.created`), or every action under a prefix ending
    /// in a dot (`plan.`).
    pub action: Option<String>,
    /// Only entries on or after this day, `YYYY-MM-DD` (UTC).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Only entries on or before this day, `YYYY-MM-DD` (UTC): the whole day is included.
    #[param(format = Date)]
    pub to: Option<String>,
    /// How many entries, newest first: 1 to 1000, 200 when left out.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// A refused filter value: the parameter, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FilterError {
    pub field: &'static str,
    pub message: String,
}

fn refused(field: &'static str, message: impl Into<String>) -> FilterError {
    FilterError {
        field,
        message: message.into(),
    }
}

/// Which entries to read. Build it with [`AuditFilter::parse`], or from
/// `Default` (every entry, the default limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Part of the actor's email, lower case; matched in any case.
    pub actor: Option<String>,
    /// An exact action, or a prefix when it ends in `.`.
    pub action: Option<String>,
    /// Unix ms, included.
    pub from: Option<i64>,
    /// Unix ms, excluded (the start of the day after the `to` day).
    pub to: Option<i64>,
    /// 1 to [`MAX_LIMIT`].
    pub limit: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            actor: None,
            action: None,
            from: None,
            to: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A value with its surrounding blanks dropped; `None` when nothing is left.
fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Midnight UTC at the start of `day`, in Unix ms.
fn day_start(day: time::Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp() * 1000
}

fn parse_day(field: &'static str, raw: &str) -> Result<time::Date, FilterError> {
    time::Date::parse(raw, DAY).map_err(|_| {
        refused(
            field,
            format!(
                "{:?} is not a date; write it as YYYY-MM-DD, like 2026-03-01",
                shown(raw)
            ),
        )
    })
}

/// At most 40 characters of what was sent, without control characters, to
/// quote back in an error.
fn shown(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_control()).take(40).collect()
}

impl AuditFilter {
    /// Checks a query string's values; the first bad one is refused, naming it.
    pub fn parse(q: &FilterQuery) -> Result<Self, FilterError> {
        let actor = match given(&q.actor) {
            None => None,
            Some(a) if a.chars().count() > MAX_FILTER_LEN => {
                return Err(refused(
                    "actor",
                    format!("is longer than {MAX_FILTER_LEN} characters"),
                ));
            }
            Some(a) if a.chars().any(char::is_control) => {
                return Err(refused("actor", "must not contain control characters"));
            }
            Some(a) => Some(a.to_lowercase()),
        };
        let action = match given(&q.action) {
            None => None,
            Some(a) => Some(parse_action(a)?),
        };
        let from_day = given(&q.from).map(|d| parse_day("from", d)).transpose()?;
        let to_day = given(&q.to).map(|d| parse_day("to", d)).transpose()?;
        if let (Some(f), Some(t)) = (from_day, to_day)
            && t < f
        {
            return Err(refused(
                "to",
                format!("{t} is before the from date {f}; swap them"),
            ));
        }
        let limit = match given(&q.limit) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(refused(
                        "limit",
                        format!("{:?} is not a number from 1 to {MAX_LIMIT}", shown(raw)),
                    ));
                }
            },
        };
        Ok(Self {
            actor,
            action,
            from: from_day.map(day_start),
            // The whole `to` day is included; after 9999-12-31 there is no end.
            to: to_day.and_then(|d| d.next_day()).map(day_start),
            limit,
        })
    }

    /// Whether any filter but the limit is set.
    pub fn narrows(&self) -> bool {
        self.actor.is_some() || self.action.is_some() || self.from.is_some() || self.to.is_some()
    }
}

/// An action (`pair.created`) or a prefix of actions ending in a dot
/// (`plan.`), in lower case.
fn parse_action(raw: &str) -> Result<String, FilterError> {
    let action = raw.to_ascii_lowercase();
    let well_formed = action.len() <= MAX_FILTER_LEN
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !action.starts_with('.')
        && !action.contains("..");
    if well_formed {
        Ok(action)
    } else {
        Err(refused(
            "action",
            format!(
                "{:?} is not an action: give one like pair.created, or a prefix ending in a dot like plan.",
                shown(raw)
            ),
        ))
    }
}

/// `text` for a LIKE pattern with `\` as the escape character.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The search's query, with the tenant condition given first: one fixed
/// text per case, so each can use the tenant's index.
macro_rules! search_sql {
    ($tenant:literal) => {
        concat!(
            "SELECT id, tenant_id, actor_email, action, target, detail, at FROM audit_log WHERE ",
            $tenant,
            " AND ($2 = '' OR LOWER(COALESCE(actor_email, '')) LIKE $2 ESCAPE '\\') \
             AND ($3 = '' OR action = $3) AND ($4 = '' OR action LIKE $4 ESCAPE '\\') \
             AND at >= $5 AND at < $6 \
             ORDER BY at DESC, id DESC LIMIT $7"
        )
    };
}

type Row = (
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
);

/// Entries matching `filter`, newest first, at most `filter.limit`; one
/// tenant's, or every tenant's (and the platform's) for `tenant_id = None`
/// (operators only).
pub async fn search(
    db: &crate::db::Db,
    tenant_id: Option<&str>,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let sql = match tenant_id {
        Some(_) => search_sql!("tenant_id = $1"),
        None => search_sql!("$1 = ''"),
    };
    let actor = filter
        .actor
        .as_deref()
        .map(|a| format!("%{}%", like_escaped(a)))
        .unwrap_or_default();
    let (exact, prefix) = match filter.action.as_deref() {
        None => (String::new(), String::new()),
        Some(a) if a.ends_with('.') => (String::new(), format!("{}%", like_escaped(a))),
        Some(a) => (a.to_owned(), String::new()),
    };
    let rows: Vec<Row> = sqlx::query_as(sql)
        .bind(tenant_id.unwrap_or(""))
        .bind(actor)
        .bind(exact)
        .bind(prefix)
        .bind(filter.from.unwrap_or(i64::MIN))
        .bind(filter.to.unwrap_or(i64::MAX))
        .bind(filter.limit.max(0))
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, tenant_id, actor_email, action, target, detail, at)| AuditEntry {
                id,
                tenant_id,
                actor_email,
                action,
                target,
                detail,
                at,
            },
        )
        .collect())
}

/// Newest first; `tenant_id = None` lists every tenant's (operators only).
pub async fn list(
    db: &crate::db::Db,
    tenant_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let filter = AuditFilter {
        limit,
        ..AuditFilter::default()
    };
    search(db, tenant_id, &filter).await
}

/// Every tenant's id and name, by name: what an operator's log can be
/// narrowed to.
pub async fn tenant_names(db: &crate::db::Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM tenants ORDER BY name, id")
        .fetch_all(db.pool())
        .await
}

const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `2026-03-01T08:41:07.123Z`, from Unix ms.
pub fn timestamp(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(STAMP).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// The CSV header; operators' exports add `tenant_id` after `at`.
pub const CSV_HEADER: [&str; 6] = ["at", "actor_email", "action", "target", "detail", "id"];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return first) gets a `'` in front, so it is read as text:
/// names and details are typed by users, and an operator's export holds
/// every tenant's.
fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The entries as CSV, one per line after the header, times in UTC;
/// `with_tenant` adds each entry's tenant id (operators' exports). An
/// entry with no actor (the system) has an empty `actor_email`.
pub fn to_csv(entries: &[AuditEntry], with_tenant: bool) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = CSV_HEADER.to_vec();
    if with_tenant {
        header.insert(1, "tenant_id");
    }
    // Writing to a Vec cannot fail; the CSV writer only returns I/O errors.
    let _ = writer.write_record(&header);
    for e in entries {
        let at = timestamp(e.at);
        let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or("")).into_owned();
        let mut record = vec![
            at,
            opt(&e.actor_email),
            cell(&e.action).into_owned(),
            opt(&e.target),
            opt(&e.detail),
            e.id.clone(),
        ];
        if with_tenant {
            record.insert(1, opt(&e.tenant_id));
        }
        let _ = writer.write_record(&record);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> FilterQuery {
        let text = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        serde_urlencoded::from_str(&text).expect("a query string")
    }

    fn parsed(pairs: &[(&str, &str)]) -> AuditFilter {
        AuditFilter::parse(&query(pairs)).expect("a good filter")
    }

    fn refusal(pairs: &[(&str, &str)]) -> FilterError {
        AuditFilter::parse(&query(pairs)).expect_err("a refused filter")
    }

    #[test]
    fn nothing_given_is_every_entry_up_to_the_default_limit() {
        assert_eq!(parsed(&[]), AuditFilter::default());
        // A form sends its empty fields; they filter nothing either.
        let empty = parsed(&[
            ("actor", ""),
            ("action", " "),
            ("from", ""),
            ("to", ""),
            ("limit", ""),
        ]);
        assert_eq!(empty, AuditFilter::default());
        assert!(!empty.narrows());
        assert_eq!(empty.limit, 200);
    }

    #[test]
    fn each_value_is_read_as_documented() {
        let f = parsed(&[
            ("actor", "  Alice@Example.COM "),
            ("action", "Pair.Created"),
            ("from", "2026-03-01"),
            ("to", "2026-03-02"),
            ("limit", "1000"),
        ]);
        assert_eq!(f.actor.as_deref(), Some("alice@example.com"));
        assert_eq!(f.action.as_deref(), Some("pair.created"));
        // 2026-03-01T00:00:00Z, included, to the start of 03-03, excluded:
        // the `to` day is a whole day.
        assert_eq!(f.from, Some(1_772_323_200_000));
        assert_eq!(f.to, Some(1_772_323_200_000 + 2 * 86_400_000));
        assert_eq!(f.limit, 1000);
        assert!(f.narrows());
        assert_eq!(
            parsed(&[("action", "plan.")]).action.as_deref(),
            Some("plan.")
        );
        assert_eq!(parsed(&[("limit", "1")]).limit, 1);
        // One day, from and to alike.
        let day = parsed(&[("from", "2026-03-01"), ("to", "2026-03-01")]);
        assert_eq!(day.to.unwrap() - day.from.unwrap(), 86_400_000);
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_field() {
        for (pairs, field, says) in [
            (vec![("from", "01/03/2026")], "from", "YYYY-MM-DD"),
            (vec![("from", "2026-02-30")], "from", "not a date"),
            (vec![("to", "yesterday")], "to", "YYYY-MM-DD"),
            (
                vec![("from", "2026-03-02"), ("to", "2026-03-01")],
                "to",
                "before",
            ),
            (vec![("limit", "0")], "limit", "1 to 1000"),
            (vec![("limit", "1001")], "limit", "1 to 1000"),
            (vec![("limit", "ten")], "limit", "1 to 1000"),
            (vec![("limit", "-5")], "limit", "1 to 1000"),
            (
                vec![("action", "pair created")],
                "action",
                "prefix ending in a dot",
            ),
            (vec![("action", "pair%")], "action", "not an action"),
            (vec![("action", ".created")], "action", "not an action"),
            (vec![("action", "pair..created")], "action", "not an action"),
            (vec![("actor", "a\u{0}b")], "actor", "control characters"),
        ] {
            let e = refusal(&pairs);
            assert_eq!(e.field, field, "{pairs:?}: {e}");
            assert!(e.message.contains(says), "{pairs:?}: {e}");
        }
        let long = "a".repeat(255);
        assert_eq!(refusal(&[("actor", &long)]).field, "actor");
        assert_eq!(refusal(&[("action", &long)]).field, "action");
    }

    #[test]
    fn an_error_quotes_the_value_short_and_without_control_characters() {
        let sent = format!("\u{1b}[31m{}", "9".repeat(100));
        let e = refusal(&[("from", &sent)]);
        assert!(!e.message.contains('\u{1b}'), "{e}");
        assert!(e.message.len() < 120, "{e}");
    }

    #[test]
    fn like_patterns_match_their_text_literally() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escaped("plan."), "plan.");
    }

    fn entry(actor: Option<&str>, action: &str, detail: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: "aud_1".into(),
            tenant_id: Some("ten_1".into()),
            actor_email: actor.map(str::to_owned),
            action: action.into(),
            target: Some("pair_1".into()),
            detail: detail.map(str::to_owned),
            at: 1_772_323_200_123,
        }
    }

    #[test]
    fn csv_has_the_header_and_one_line_per_entry() {
        let rows = [
            entry(Some("a@example.com"), "pair.created", Some("Shop, \"EU\"")),
            entry(None, "trial.ended", None),
        ];
        let text = to_csv(&rows, false);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("at,actor_email,action,target,detail,id"));
        assert_eq!(
            lines.next(),
            Some(
                "2026-03-01T00:00:00.123Z,a@example.com,pair.created,pair_1,\"Shop, \"\"EU\"\"\",aud_1"
            )
        );
        assert_eq!(
            lines.next(),
            Some("2026-03-01T00:00:00.123Z,,trial.ended,pair_1,,aud_1")
        );
        assert_eq!(lines.next(), None);
        // Read back, the quoted detail is whole.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!(&first[4], "Shop, \"EU\"");
    }

    #[test]
    fn operators_csv_names_each_entrys_tenant() {
        let mut platform = entry(Some("op@example.com"), "operator.created", None);
        platform.tenant_id = None;
        let text = to_csv(&[entry(None, "pair.created", None), platform], true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "at,tenant_id,actor_email,action,target,detail,id");
        assert!(lines[1].starts_with("2026-03-01T00:00:00.123Z,ten_1,,pair.created,"));
        assert!(lines[2].starts_with("2026-03-01T00:00:00.123Z,,op@example.com,"));
        assert_eq!(to_csv(&[], true).lines().count(), 1);
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_written_as_text() {
        let text = to_csv(
            &[entry(
                Some("x@example.com"),
                "pair.created",
                Some("=HYPERLINK(\"http://evil\")"),
            )],
            false,
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[4], "'=HYPERLINK(\"http://evil\")");
        for risky in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(cell(risky).starts_with('\''), "{risky}");
        }
        assert_eq!(cell("plain"), "plain");
    }

    #[test]
    fn timestamps_are_utc_to_the_millisecond() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_772_323_200_123), "2026-03-01T00:00:00.123Z");
    }
}
