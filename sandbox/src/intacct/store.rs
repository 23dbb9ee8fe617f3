//! The simulator's tables (migrations `0003_sim_intacct.sql`). Every function
//! takes a connection, so callers decide what runs in one transaction.

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::wire::format_timestamp;

/// One stored record of any object.
#[derive(Debug, Clone)]
pub struct Record {
    pub recordno: i64,
    pub object_id: String,
    pub fields: Map<String, Value>,
    pub when_modified: i64,
}

/// What a look-up can filter on in SQL before the query engine sees the rows.
#[derive(Debug, Default, Clone)]
pub struct Pushdown {
    pub object_id: Option<String>,
    pub docparid: Option<String>,
    pub reference: Option<String>,
    pub recordno: Option<i64>,
    pub modified_since: Option<i64>,
}

/// The next value of a per-company counter (`recordno`, `seq:Sales Order`).
pub async fn next_counter(
    conn: &mut AnyConnection,
    pair_id: &str,
    name: &str,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO sim_intacct_counters (pair_id, name, value) VALUES ($1, $2, 1) \
         ON CONFLICT (pair_id, name) DO UPDATE SET value = sim_intacct_counters.value + 1 \
         RETURNING value",
    )
    .bind(pair_id)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    row.try_get(0)
}

pub async fn set_counter(
    conn: &mut AnyConnection,
    pair_id: &str,
    name: &str,
    value: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sim_intacct_counters (pair_id, name, value) VALUES ($1, $2, $3) \
         ON CONFLICT (pair_id, name) DO UPDATE SET value = excluded.value",
    )
    .bind(pair_id)
    .bind(name)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A record ready to insert: its id columns and fields (system fields are added here).
pub struct NewRecord<'a> {
    pub object: &'a str,
    pub object_id: Option<String>,
    pub docparid: Option<String>,
    pub reference: Option<String>,
    pub fields: Map<String, Value>,
}

/// Stamps RECORDNO, WHENCREATED and WHENMODIFIED into a record's fields.
pub fn stamp(fields: &mut Map<String, Value>, recordno: i64, created: i64, modified: i64) {
    fields.insert("RECORDNO".into(), Value::String(recordno.to_string()));
    fields
        .entry("WHENCREATED")
        .or_insert_with(|| Value::String(format_timestamp(created)));
    fields.insert(
        "WHENMODIFIED".into(),
        Value::String(format_timestamp(modified)),
    );
}

/// Inserts one record with the next RECORDNO. A duplicate business id is a
/// unique violation; callers check first and report it as Intacct would.
pub async fn insert(
    conn: &mut AnyConnection,
    pair_id: &str,
    mut rec: NewRecord<'_>,
    now: i64,
) -> Result<Record, sqlx::Error> {
    let recordno = next_counter(conn, pair_id, "recordno").await?;
    stamp(&mut rec.fields, recordno, now, now);
    let object_id = rec.object_id.unwrap_or_else(|| recordno.to_string());
    sqlx::query(
        "INSERT INTO sim_intacct_objects (pair_id, object, recordno, object_id, docparid, reference, \
         fields, when_created, when_modified) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(pair_id)
    .bind(rec.object)
    .bind(recordno)
    .bind(&object_id)
    .bind(rec.docparid)
    .bind(rec.reference)
    .bind(Value::Object(rec.fields.clone()).to_string())
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Record {
        recordno,
        object_id,
        fields: rec.fields,
        when_modified: now,
    })
}

/// Many records at once, numbered from `first_recordno` (seeding). Multi-row
/// inserts keep a few hundred rows to a handful of statements.
pub async fn insert_batch(
    conn: &mut AnyConnection,
    pair_id: &str,
    first_recordno: i64,
    records: Vec<NewRecord<'_>>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    const PER_STATEMENT: usize = 60; // 9 parameters each, far below any engine's cap
    let mut next = first_recordno;
    let mut iter = records.into_iter().peekable();
    while iter.peek().is_some() {
        let chunk: Vec<NewRecord<'_>> = iter.by_ref().take(PER_STATEMENT).collect();
        let mut sql = String::from(
            "INSERT INTO sim_intacct_objects (pair_id, object, recordno, object_id, docparid, \
             reference, fields, when_created, when_modified) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        // Only placeholders are formatted in; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for mut rec in chunk {
            let recordno = next;
            next += 1;
            stamp(&mut rec.fields, recordno, now, now);
            q = q
                .bind(pair_id)
                .bind(rec.object)
                .bind(recordno)
                .bind(rec.object_id.unwrap_or_else(|| recordno.to_string()))
                .bind(rec.docparid)
                .bind(rec.reference)
                .bind(Value::Object(rec.fields).to_string())
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(next - 1)
}

/// Replaces a record's fields (and reference) and moves WHENMODIFIED.
pub async fn update(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    record: &mut Record,
    reference: Option<String>,
    now: i64,
) -> Result<(), sqlx::Error> {
    // WHENMODIFIED must move even when two updates land in the same millisecond.
    let modified = now.max(record.when_modified + 1);
    stamp(&mut record.fields, record.recordno, modified, modified);
    sqlx::query(
        "UPDATE sim_intacct_objects SET fields = $1, reference = $2, when_modified = $3 \
         WHERE pair_id = $4 AND object = $5 AND recordno = $6",
    )
    .bind(Value::Object(record.fields.clone()).to_string())
    .bind(reference)
    .bind(modified)
    .bind(pair_id)
    .bind(object)
    .bind(record.recordno)
    .execute(&mut *conn)
    .await?;
    record.when_modified = modified;
    Ok(())
}

pub async fn delete(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    recordno: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM sim_intacct_objects WHERE pair_id = $1 AND object = $2 AND recordno = $3",
    )
    .bind(pair_id)
    .bind(object)
    .bind(recordno)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records of one object, in RECORDNO order, narrowed by what SQL can filter.
pub async fn list(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    push: &Pushdown,
) -> Result<Vec<Record>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT recordno, object_id, fields, when_modified FROM sim_intacct_objects \
         WHERE pair_id = $1 AND object = $2",
    );
    let mut n = 2;
    let mut texts: Vec<String> = Vec::new();
    let mut ints: Vec<(usize, i64)> = Vec::new();
    for (col, v) in [
        ("object_id", &push.object_id),
        ("docparid", &push.docparid),
        ("reference", &push.reference),
    ] {
        if let Some(v) = v {
            n += 1;
            sql.push_str(&format!(" AND {col} = ${n}"));
            texts.push(v.clone());
        }
    }
    if let Some(r) = push.recordno {
        n += 1;
        sql.push_str(&format!(" AND recordno = ${n}"));
        ints.push((n, r));
    }
    if let Some(t) = push.modified_since {
        n += 1;
        // Timestamps are printed to the second: compare from the second's start.
        sql.push_str(&format!(" AND when_modified >= ${n}"));
        ints.push((n, t - t.rem_euclid(1000)));
    }
    sql.push_str(" ORDER BY recordno");
    // Only column names and placeholders are formatted in; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id)
        .bind(object);
    for t in texts {
        q = q.bind(t);
    }
    for (_, i) in ints {
        q = q.bind(i);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.into_iter().map(record_of).collect()
}

/// Records by RECORDNO, in the order given (missing ones are skipped).
pub async fn by_recordnos(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    recordnos: &[i64],
) -> Result<Vec<Record>, sqlx::Error> {
    if recordnos.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..recordnos.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let sql = format!(
        "SELECT recordno, object_id, fields, when_modified FROM sim_intacct_objects \
         WHERE pair_id = $1 AND object = $2 AND recordno IN ({})",
        placeholders.join(",")
    );
    // Only column names and placeholders are formatted in; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id)
        .bind(object);
    for r in recordnos {
        q = q.bind(*r);
    }
    let mut found: Vec<Record> = q
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(record_of)
        .collect::<Result<_, _>>()?;
    let pos = |r: &Record| recordnos.iter().position(|x| *x == r.recordno);
    found.sort_by_key(|r| pos(r));
    Ok(found)
}

pub async fn by_id(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    object_id: &str,
) -> Result<Option<Record>, sqlx::Error> {
    let push = Pushdown {
        object_id: Some(object_id.to_owned()),
        ..Pushdown::default()
    };
    Ok(list(conn, pair_id, object, &push).await?.into_iter().next())
}

/// Records named by (object, id), in one query; missing ones are left out.
/// Gives each with its object.
pub async fn by_keys(
    conn: &mut AnyConnection,
    pair_id: &str,
    keys: &[(&str, &str)],
) -> Result<Vec<(String, Record)>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // One indexed lookup per key (the unique (pair, object, id) index), glued
    // together: an OR of the keys would have the database scan every record
    // of the pair.
    let selects: Vec<String> = (0..keys.len())
        .map(|i| {
            format!(
                "SELECT recordno, object_id, fields, when_modified, object FROM sim_intacct_objects \
                 WHERE pair_id = $1 AND object = ${} AND object_id = ${}",
                2 * i + 2,
                2 * i + 3
            )
        })
        .collect();
    let sql = selects.join(" UNION ALL ");
    // Only placeholders are formatted in; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pair_id);
    for (object, id) in keys {
        q = q.bind(*object).bind(*id);
    }
    q.fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| {
            let object: String = row.try_get(4)?;
            Ok((object, record_of(row)?))
        })
        .collect()
}

pub async fn exists(
    conn: &mut AnyConnection,
    pair_id: &str,
    object: &str,
    object_id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 FROM sim_intacct_objects WHERE pair_id = $1 AND object = $2 AND object_id = $3",
    )
    .bind(pair_id)
    .bind(object)
    .bind(object_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

fn record_of(row: sqlx::any::AnyRow) -> Result<Record, sqlx::Error> {
    let fields: String = row.try_get(2)?;
    let fields = match serde_json::from_str(&fields) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok(Record {
        recordno: row.try_get(0)?,
        object_id: row.try_get(1)?,
        fields,
        when_modified: row.try_get(3)?,
    })
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub company_id: String,
    pub user_id: String,
    pub location_id: String,
    pub expires_at: i64,
}

pub async fn create_session(
    conn: &mut AnyConnection,
    session_id: &str,
    pair_id: &str,
    s: &SessionRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sim_intacct_sessions (session_id, pair_id, company_id, user_id, location_id, \
         created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(session_id)
    .bind(pair_id)
    .bind(&s.company_id)
    .bind(&s.user_id)
    .bind(&s.location_id)
    .bind(now)
    .bind(s.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How far a session's timeout must move before it is written.
pub const SESSION_SLIDE_MS: i64 = 60_000;

/// The live session with this id, its timeout slid to `now + ttl_ms`.
pub async fn touch_session(
    conn: &mut AnyConnection,
    session_id: &str,
    pair_id: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT company_id, user_id, location_id, expires_at FROM sim_intacct_sessions \
         WHERE session_id = $1 AND pair_id = $2",
    )
    .bind(session_id)
    .bind(pair_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut s = SessionRow {
        company_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        location_id: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    };
    if s.expires_at <= now {
        return Ok(None);
    }
    let slid = now + ttl_ms;
    // Skip the write when the timeout moved less than a minute: most calls read only.
    if slid - s.expires_at >= SESSION_SLIDE_MS {
        sqlx::query("UPDATE sim_intacct_sessions SET expires_at = $1 WHERE session_id = $2")
            .bind(slid)
            .bind(session_id)
            .execute(&mut *conn)
            .await?;
        s.expires_at = slid;
    }
    Ok(Some(s))
}

/// Ends every session of a pair (the "forced session expiry" fault).
pub async fn expire_sessions(conn: &mut AnyConnection, pair_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sim_intacct_sessions WHERE pair_id = $1")
        .bind(pair_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

// ---------------------------------------------------------------------------
// Function control ids (uniqueid=true)
// ---------------------------------------------------------------------------

/// Claims a control id for this function. `false` means it already completed.
/// Runs inside the function's own transaction, so a function that fails
/// releases its claim when the transaction rolls back.
pub async fn claim_control_id(
    conn: &mut AnyConnection,
    pair_id: &str,
    company_id: &str,
    sender_id: &str,
    control_id: &str,
    function: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO sim_intacct_control_ids (pair_id, company_id, sender_id, control_id, \
         function_name, created_at) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
    )
    .bind(pair_id)
    .bind(company_id)
    .bind(sender_id)
    .bind(control_id)
    .bind(function)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// readByQuery result sets
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ResultSet {
    pub object: String,
    pub fields: Vec<String>,
    pub recordnos: Vec<i64>,
    pub position: usize,
    pub pagesize: usize,
}

pub async fn save_result_set(
    conn: &mut AnyConnection,
    result_id: &str,
    pair_id: &str,
    rs: &ResultSet,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sim_intacct_result_sets (result_id, pair_id, object, fields, recordnos, \
         position, pagesize, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(result_id)
    .bind(pair_id)
    .bind(&rs.object)
    .bind(serde_json::to_string(&rs.fields).unwrap_or_default())
    .bind(serde_json::to_string(&rs.recordnos).unwrap_or_default())
    .bind(rs.position as i64)
    .bind(rs.pagesize as i64)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn load_result_set(
    conn: &mut AnyConnection,
    result_id: &str,
    pair_id: &str,
    now: i64,
) -> Result<Option<ResultSet>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT object, fields, recordnos, position, pagesize FROM sim_intacct_result_sets \
         WHERE result_id = $1 AND pair_id = $2 AND expires_at > $3",
    )
    .bind(result_id)
    .bind(pair_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let fields: String = row.try_get(1)?;
    let recordnos: String = row.try_get(2)?;
    Ok(Some(ResultSet {
        object: row.try_get(0)?,
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        recordnos: serde_json::from_str(&recordnos).unwrap_or_default(),
        position: row.try_get::<i64, _>(3)? as usize,
        pagesize: row.try_get::<i64, _>(4)? as usize,
    }))
}

pub async fn advance_result_set(
    conn: &mut AnyConnection,
    result_id: &str,
    position: usize,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sim_intacct_result_sets SET position = $1, expires_at = $2 WHERE result_id = $3",
    )
    .bind(position as i64)
    .bind(expires_at)
    .bind(result_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Drops expired cursors (called now and then, not on every request).
pub async fn purge_result_sets(conn: &mut AnyConnection, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sim_intacct_result_sets WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Usage (spec §9)
// ---------------------------------------------------------------------------

pub async fn count_usage(
    conn: &mut AnyConnection,
    pair_id: &str,
    period: &str,
    n: i64,
) -> Result<(), sqlx::Error> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO sim_intacct_usage (pair_id, period, count) VALUES ($1, $2, $3) \
         ON CONFLICT (pair_id, period) DO UPDATE SET count = sim_intacct_usage.count + excluded.count",
    )
    .bind(pair_id)
    .bind(period)
    .bind(n)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
