//! A tenant's currency rate table, by date.
//!
//! Rows are checked here, once, for the API, the CSV import and the web page
//! alike: codes must be active ISO 4217 codes, the rate a positive decimal,
//! the date `YYYY-MM-DD`, and no (from, to, date) given twice. A refused
//! table names the row (`rates[3]`, or the CSV line) and the field, and
//! nothing is saved. Rates are kept as the decimal text the tenant gave, so
//! what they export is what they imported.
//!
//! The worker and the preview convert with this table and nothing else. A
//! sandbox pair's sample company needs CAD↔USD rates, so creating one adds
//! them here ([`seed_sandbox`]) as ordinary rows the tenant can see, change
//! or delete.

use connect_jobs::mapping::currency::{CurrencyCode, RateRow, RateTable};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

use crate::audit::{self, Actor};
use crate::db::{Db, is_unique_violation, now_ms};

/// More rows than any tenant's books need; a bound on one request's work.
pub const MAX_ROWS: usize = 20_000;
/// The CSV header, in this order.
pub const CSV_HEADER: [&str; 4] = ["from", "to", "date", "rate"];

/// The rates the sandbox's sample company uses (some of its customers pay in
/// CAD): (from, to, rate) from [`SANDBOX_RATES_SINCE`].
pub const SANDBOX_RATES: [(&str, &str, &str); 2] = [("CAD", "USD", "0.73"), ("USD", "CAD", "1.37")];
/// Early enough that every sample order, whatever its date, has a rate.
pub const SANDBOX_RATES_SINCE: &str = "2000-01-01";
/// `created_by` of the rows a sandbox pair adds, so the table says where they came from.
pub const SANDBOX_AUTHOR: &str = "sandbox";

#[derive(Debug, thiserror::Error)]
pub enum RatesError {
    /// `field` is a full path: `rates[3].rate` for JSON rows, `line 4.rate`
    /// for CSV lines.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("a {from}→{to} rate on {date} already exists")]
    Duplicate {
        from: CurrencyCode,
        to: CurrencyCode,
        date: Date,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One row as a client sends it, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateInput {
    /// ISO 4217 code converted from, e.g. `EUR`.
    pub from: String,
    /// ISO 4217 code converted to, e.g. `USD`.
    pub to: String,
    /// First day the rate applies, `YYYY-MM-DD`.
    pub date: String,
    /// 1 `from` = `rate` `to`, a positive decimal as text (`"1.0825"`).
    pub rate: String,
}

/// A stored row, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredRate {
    pub from: String,
    pub to: String,
    pub date: String,
    pub rate: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who added the row (their email), `system`, or `sandbox` for the
    /// sample rates a sandbox pair added.
    pub created_by: String,
}

/// A checked row with the rate text as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRate {
    pub row: RateRow,
    pub text: String,
}

fn invalid(at: &str, field: &str, message: impl Into<String>) -> RatesError {
    RatesError::Invalid {
        field: format!("{at}.{field}"),
        message: message.into(),
    }
}

/// Checks one row; `at` names it in errors (`rates[3]`, `line 4`).
pub fn check_row(at: &str, input: &RateInput) -> Result<CheckedRate, RatesError> {
    let code = |field: &str, raw: &str| {
        CurrencyCode::parse(raw).map_err(|e| invalid(at, field, e.reason().to_owned()))
    };
    let from = code("from", &input.from)?;
    let to = code("to", &input.to)?;
    if from == to {
        return Err(invalid(
            at,
            "to",
            format!("is {to}, the same as from; a currency needs no rate to itself"),
        ));
    }
    let date = parse_date(&input.date).ok_or_else(|| {
        invalid(
            at,
            "date",
            format!(
                "{:?} is not a date; write it as YYYY-MM-DD",
                input.date.trim()
            ),
        )
    })?;
    let raw = input.rate.trim();
    let rate = Decimal::from_str_exact(raw).map_err(|_| {
        invalid(
            at,
            "rate",
            format!("{raw:?} is not a decimal number (like 1.0825)"),
        )
    })?;
    if rate <= Decimal::ZERO {
        return Err(invalid(
            at,
            "rate",
            format!("{raw} is not positive; a rate is how many {to} one {from} buys"),
        ));
    }
    Ok(CheckedRate {
        row: RateRow {
            from,
            to,
            date,
            rate,
        },
        text: raw.to_owned(),
    })
}

fn parse_date(raw: &str) -> Option<Date> {
    Date::parse(raw.trim(), format_description!("[year]-[month]-[day]")).ok()
}

/// Checks every row and that no (from, to, date) is given twice. `name`
/// turns a row's index into how errors name it.
pub fn check_rows(
    inputs: &[RateInput],
    name: impl Fn(usize) -> String,
    list_field: &str,
) -> Result<Vec<CheckedRate>, RatesError> {
    if inputs.len() > MAX_ROWS {
        return Err(RatesError::Invalid {
            field: list_field.to_owned(),
            message: format!("has {} rows; at most {MAX_ROWS} are allowed", inputs.len()),
        });
    }
    let mut seen = std::collections::HashMap::new();
    let mut checked = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let at = name(i);
        let rate = check_row(&at, input)?;
        let key = (rate.row.from, rate.row.to, rate.row.date);
        if let Some(first) = seen.insert(key, i) {
            return Err(invalid(
                &at,
                "date",
                format!(
                    "{}→{} on {} is given twice, first in {}",
                    key.0,
                    key.1,
                    key.2,
                    name(first)
                ),
            ));
        }
        checked.push(rate);
    }
    Ok(checked)
}

/// Reads a CSV file with the header `from,to,date,rate` (columns in any
/// order, names in any case); errors name the line as a spreadsheet shows it.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<CheckedRate>, RatesError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let line_error = |line: u64, message: String| RatesError::Invalid {
        field: format!("line {line}"),
        message,
    };
    let headers = reader
        .headers()
        .map_err(|e| line_error(1, csv_reason(&e)))?
        .clone();
    if headers.iter().all(str::is_empty) {
        return Err(line_error(
            1,
            format!(
                "the file is empty; its first line must be {}",
                CSV_HEADER.join(",")
            ),
        ));
    }
    let mut columns = [usize::MAX; 4];
    for (i, name) in headers.iter().enumerate() {
        match CSV_HEADER.iter().position(|h| h.eq_ignore_ascii_case(name)) {
            Some(c) if columns[c] == usize::MAX => columns[c] = i,
            Some(_) => return Err(line_error(1, format!("column {name:?} appears twice"))),
            None => {
                return Err(line_error(
                    1,
                    format!(
                        "unknown column {name:?}; the header is {}",
                        CSV_HEADER.join(",")
                    ),
                ));
            }
        }
    }
    if let Some(missing) = (0..4).find(|&c| columns[c] == usize::MAX) {
        return Err(line_error(
            1,
            format!(
                "the column {:?} is missing; the header is {}",
                CSV_HEADER[missing],
                CSV_HEADER.join(",")
            ),
        ));
    }
    let mut inputs = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(bytes, p));
            line_error(line, csv_reason(&e))
        })?;
        let line = record.position().map_or(0, |p| line_at(bytes, p));
        let cell = |c: usize| record.get(columns[c]).unwrap_or_default().to_owned();
        inputs.push(RateInput {
            from: cell(0),
            to: cell(1),
            date: cell(2),
            rate: cell(3),
        });
        lines.push(line);
    }
    check_rows(&inputs, |i| format!("line {}", lines[i]), "file")
}

/// The line a record starts on, counted from its byte offset: the reader's
/// own line count skips blank lines, and people count them.
fn line_at(bytes: &[u8], position: &csv::Position) -> u64 {
    let mut start = usize::try_from(position.byte()).map_or(bytes.len(), |b| b.min(bytes.len()));
    // A record's position is where the reader started looking, before the
    // blank lines it skipped.
    while start < bytes.len() && matches!(bytes[start], b'\n' | b'\r') {
        start += 1;
    }
    1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        _ => e.to_string(),
    }
}

/// The rows as CSV, header first, in the order given.
pub fn to_csv(rows: &[StoredRate]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail; the CSV writer only returns I/O errors.
    let _ = writer.write_record(CSV_HEADER);
    for r in rows {
        let _ = writer.write_record([&r.from, &r.to, &r.date, &r.rate]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

type Row = (String, String, String, String, i64, String);

/// The table `backend::worker` converts with.
pub async fn load(db: &Db, tenant_id: &str) -> Result<RateTable, sqlx::Error> {
    let rows = list(db, tenant_id, None, None).await?;
    let decode = |what: &str, r: &StoredRate| {
        sqlx::Error::Decode(
            format!(
                "currency_rates row {}→{} {}: bad {what}",
                r.from, r.to, r.date
            )
            .into(),
        )
    };
    let mut checked = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = RateRow {
            from: CurrencyCode::parse(&r.from).map_err(|_| decode("from", r))?,
            to: CurrencyCode::parse(&r.to).map_err(|_| decode("to", r))?,
            date: parse_date(&r.date).ok_or_else(|| decode("date", r))?,
            rate: Decimal::from_str_exact(&r.rate).map_err(|_| decode("rate", r))?,
        };
        checked.push(row);
    }
    RateTable::from_rows(checked).map_err(|e| sqlx::Error::Decode(e.to_string().into()))
}

/// The tenant's rows ordered by pair and date, optionally one side of the
/// pair or both.
pub async fn list(
    db: &Db,
    tenant_id: &str,
    from: Option<CurrencyCode>,
    to: Option<CurrencyCode>,
) -> Result<Vec<StoredRate>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT from_currency, to_currency, effective_date, rate, created_at, created_by \
         FROM currency_rates WHERE tenant_id = $1 \
         AND ($2 = '' OR from_currency = $2) AND ($3 = '' OR to_currency = $3) \
         ORDER BY from_currency, to_currency, effective_date",
    )
    .bind(tenant_id)
    .bind(from.map_or("", |c| c.as_str()))
    .bind(to.map_or("", |c| c.as_str()))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(from, to, date, rate, created_at, created_by)| StoredRate {
                from,
                to,
                date,
                rate,
                created_at,
                created_by,
            },
        )
        .collect())
}

fn author(actor: &Actor<'_>) -> String {
    actor.email.unwrap_or("system").to_owned()
}

async fn insert(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    rate: &CheckedRate,
    author: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO currency_rates (tenant_id, from_currency, to_currency, effective_date, rate, \
         created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(tenant_id)
    .bind(rate.row.from.as_str())
    .bind(rate.row.to.as_str())
    .bind(rate.row.date.to_string())
    .bind(&rate.text)
    .bind(now)
    .bind(author)
    .execute(&mut *conn)
    .await?;
    crate::revisions::inputs_changed(conn, tenant_id).await
}

/// Adds the sandbox company's rates ([`SANDBOX_RATES`]) to the tenant's
/// table, on the connection (transaction) that creates a sandbox pair, for
/// each pair of currencies the tenant has no rate for yet: the tenant's own
/// rows are never touched, and a second sandbox pair adds nothing. Returns
/// what was added (`CAD→USD 0.73`), audited as one entry.
pub async fn seed_sandbox(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    actor: &Actor<'_>,
) -> Result<Vec<String>, sqlx::Error> {
    let now = now_ms();
    let mut added = Vec::new();
    for (from, to, rate) in SANDBOX_RATES {
        let (existing,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM currency_rates WHERE tenant_id = $1 AND from_currency = $2 \
             AND to_currency = $3",
        )
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *conn)
        .await?;
        if existing > 0 {
            continue;
        }
        // Two sandbox pairs created at once (Postgres) may both find none:
        // the one that loses adds nothing rather than failing the pair.
        let done = sqlx::query(
            "INSERT INTO currency_rates (tenant_id, from_currency, to_currency, effective_date, rate, \
             created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7) \
             ON CONFLICT (tenant_id, from_currency, to_currency, effective_date) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .bind(SANDBOX_RATES_SINCE)
        .bind(rate)
        .bind(now)
        .bind(SANDBOX_AUTHOR)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            crate::revisions::inputs_changed(conn, tenant_id).await?;
            added.push(format!("{from}→{to} {rate}"));
        }
    }
    if !added.is_empty() {
        audit::record(
            conn,
            Some(tenant_id),
            actor,
            "currency_rates.sandbox_added",
            None,
            Some(&added.join(", ")),
        )
        .await?;
    }
    Ok(added)
}

/// Replaces the whole table with `rates` (already checked), audited, in one
/// transaction: a failure leaves the old table as it was.
pub async fn replace(
    db: &Db,
    tenant_id: &str,
    actor: &Actor<'_>,
    rates: &[CheckedRate],
    how: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let by = author(actor);
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM currency_rates WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    crate::revisions::inputs_changed(&mut tx, tenant_id).await?;
    for rate in rates {
        insert(&mut tx, tenant_id, rate, &by, now).await?;
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "currency_rates.replace",
        None,
        Some(&format!("{} rates ({how})", rates.len())),
    )
    .await?;
    tx.commit().await
}

/// Adds one row; the same pair and date already present is
/// [`RatesError::Duplicate`].
pub async fn add(
    db: &Db,
    tenant_id: &str,
    actor: &Actor<'_>,
    rate: &CheckedRate,
) -> Result<(), RatesError> {
    let mut tx = db.begin_write().await?;
    match insert(&mut tx, tenant_id, rate, &author(actor), now_ms()).await {
        Err(e) if is_unique_violation(&e) => {
            return Err(RatesError::Duplicate {
                from: rate.row.from,
                to: rate.row.to,
                date: rate.row.date,
            });
        }
        other => other?,
    }
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "currency_rates.add",
        Some(&describe(&rate.row)),
        Some(&rate.text),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one row; false when the tenant has no such row.
pub async fn remove(
    db: &Db,
    tenant_id: &str,
    actor: &Actor<'_>,
    from: CurrencyCode,
    to: CurrencyCode,
    date: Date,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "DELETE FROM currency_rates WHERE tenant_id = $1 AND from_currency = $2 \
         AND to_currency = $3 AND effective_date = $4",
    )
    .bind(tenant_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(date.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    crate::revisions::inputs_changed(&mut tx, tenant_id).await?;
    let row = RateRow {
        from,
        to,
        date,
        rate: Decimal::ONE,
    };
    audit::record(
        &mut tx,
        Some(tenant_id),
        actor,
        "currency_rates.remove",
        Some(&describe(&row)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

fn describe(row: &RateRow) -> String {
    format!("{}→{} {}", row.from, row.to, row.date)
}

/// Parses a currency code given as a filter or a path part; `field` names it.
pub fn parse_code(field: &str, raw: &str) -> Result<CurrencyCode, RatesError> {
    CurrencyCode::parse(raw).map_err(|e| RatesError::Invalid {
        field: field.to_owned(),
        message: e.reason().to_owned(),
    })
}

/// Parses a `YYYY-MM-DD` date given as a form field or a path part.
pub fn parse_day(field: &str, raw: &str) -> Result<Date, RatesError> {
    parse_date(raw).ok_or_else(|| RatesError::Invalid {
        field: field.to_owned(),
        message: format!("{:?} is not a date; write it as YYYY-MM-DD", raw.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(from: &str, to: &str, date: &str, rate: &str) -> RateInput {
        RateInput {
            from: from.into(),
            to: to.into(),
            date: date.into(),
            rate: rate.into(),
        }
    }

    fn field_of(e: RatesError) -> (String, String) {
        match e {
            RatesError::Invalid { field, message } => (field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn each_bad_field_is_named_with_its_row() {
        for (row, field, why) in [
            (
                input("EUX", "USD", "2024-01-01", "1"),
                "rates[0].from",
                "not an active ISO 4217",
            ),
            (
                input("EUR", "US", "2024-01-01", "1"),
                "rates[0].to",
                "three-letter",
            ),
            (
                input("EUR", "eur", "2024-01-01", "1"),
                "rates[0].to",
                "same as from",
            ),
            (
                input("EUR", "USD", "2024-13-01", "1"),
                "rates[0].date",
                "YYYY-MM-DD",
            ),
            (
                input("EUR", "USD", "01/02/2024", "1"),
                "rates[0].date",
                "YYYY-MM-DD",
            ),
            (
                input("EUR", "USD", "2024-01-01", "0"),
                "rates[0].rate",
                "not positive",
            ),
            (
                input("EUR", "USD", "2024-01-01", "-1.2"),
                "rates[0].rate",
                "not positive",
            ),
            (
                input("EUR", "USD", "2024-01-01", "1e3"),
                "rates[0].rate",
                "not a decimal",
            ),
            (
                input("EUR", "USD", "2024-01-01", "abc"),
                "rates[0].rate",
                "not a decimal",
            ),
        ] {
            let e = check_rows(&[row], |i| format!("rates[{i}]"), "rates").unwrap_err();
            let (f, m) = field_of(e);
            assert_eq!(f, field, "{m}");
            assert!(m.contains(why), "{f}: {m}");
        }
    }

    #[test]
    fn a_pair_and_date_given_twice_names_both_rows() {
        let rows = [
            input("EUR", "USD", "2024-01-01", "1.1"),
            input("EUR", "USD", "2024-02-01", "1.1"),
            input("eur", "usd", "2024-01-01", "1.1"),
        ];
        let (f, m) = field_of(check_rows(&rows, |i| format!("rates[{i}]"), "rates").unwrap_err());
        assert_eq!(f, "rates[2].date");
        assert!(m.contains("first in rates[0]"), "{m}");
    }

    #[test]
    fn good_rows_keep_the_rate_text() {
        let rows = check_rows(
            &[input(" eur ", "USD", "2024-01-01", " 1.0800 ")],
            |i| format!("rates[{i}]"),
            "rates",
        )
        .unwrap();
        assert_eq!(rows[0].text, "1.0800");
        assert_eq!(rows[0].row.from.as_str(), "EUR");
        assert_eq!(rows[0].row.date.to_string(), "2024-01-01");
    }

    #[test]
    fn csv_reads_columns_by_name_and_names_the_line() {
        let ok = parse_csv(
            b"\xEF\xBB\xBFDate,From,To,Rate\n2024-01-01,EUR,USD,1.10\n\n2024-02-01,EUR,USD,1.08\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].row.rate.to_string(), "1.08");

        for (csv, field, why) in [
            (&b""[..], "line 1", "empty"),
            (b"from,to,day,rate\n", "line 1", "unknown column \"day\""),
            (b"from,to,rate\n", "line 1", "\"date\" is missing"),
            (
                b"from,to,date,rate\nEUR,USD,2024-01-01\n",
                "line 2",
                "3 fields",
            ),
            (
                b"from,to,date,rate\nEUR,USD,2024-01-01,1\nEUR,USD,2024-01-02,-1\n",
                "line 3.rate",
                "not positive",
            ),
            (
                b"from,to,date,rate\nEUR,USD,2024-01-01,1\nEUR,USD,2024-01-01,1\n",
                "line 3.date",
                "first in line 2",
            ),
            (
                b"from,to,date,rate\nEUR,USD,2024-01-01,1\n\xff,USD,2024-01-01,1\n",
                "line 3",
                "UTF-8",
            ),
        ] {
            let (f, m) = field_of(parse_csv(csv).unwrap_err());
            assert_eq!(f, field, "{m}");
            assert!(m.contains(why), "{f}: {m}");
        }
    }

    #[test]
    fn the_sandbox_rates_are_valid_rows() {
        let rows: Vec<RateInput> = SANDBOX_RATES
            .iter()
            .map(|(from, to, rate)| input(from, to, SANDBOX_RATES_SINCE, rate))
            .collect();
        let checked = check_rows(&rows, |i| format!("rates[{i}]"), "rates").unwrap();
        assert_eq!(checked[0].text, "0.73");
    }

    #[test]
    fn csv_round_trips_through_to_csv() {
        let stored = vec![StoredRate {
            from: "EUR".into(),
            to: "USD".into(),
            date: "2024-01-01".into(),
            rate: "1.0825".into(),
            created_at: 0,
            created_by: "a@b.co".into(),
        }];
        let text = to_csv(&stored);
        assert_eq!(text, "from,to,date,rate\nEUR,USD,2024-01-01,1.0825\n");
        let back = parse_csv(text.as_bytes()).unwrap();
        assert_eq!(back[0].text, "1.0825");
    }
}
