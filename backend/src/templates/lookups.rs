//! A template's lookup tables (SKU → item id, payment method → GL account,
//! status maps …), read and replaced one table at a time, as JSON or as CSV
//! with the header `key,value`. Replacing a table saves a new template
//! version, checked like any other edit; a CSV with any error saves nothing
//! and names the line and column of the first one.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::ids::PairId;
use crate::state::AppState;

use super::TemplateInfo;

/// The most entries one table may hold. Tables are compiled into every
/// mapping of the flow; a catalogue larger than this belongs in the ERP's
/// item master, not in a template.
pub const MAX_ENTRIES: usize = 20_000;

/// The longest key or value, in characters.
pub const MAX_CELL: usize = 1_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupInfo {
    pub name: String,
    pub entries: usize,
}

/// A table name: what rules refer to (`lookup.table`), so letters, digits,
/// `_` and `-` only.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "table",
            format!("'{name}' is not a table name: 1 to 64 letters, digits, '_' or '-'"),
        ))
    }
}

/// A download file name for a table: its name, with anything that could
/// break a `Content-Disposition` header replaced.
pub fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.csv")
}

pub fn list(document: &Value) -> Vec<LookupInfo> {
    document
        .get("lookups")
        .and_then(Value::as_object)
        .map(|tables| {
            tables
                .iter()
                .map(|(name, table)| LookupInfo {
                    name: name.clone(),
                    entries: table.as_object().map_or(0, Map::len),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn table<'a>(document: &'a Value, name: &str) -> Result<&'a Map<String, Value>, ApiError> {
    document
        .get("lookups")
        .and_then(|l| l.get(name))
        .and_then(Value::as_object)
        .ok_or(ApiError::NotFound("lookup table"))
}

/// Checks a table given as JSON: an object of key → value, within the limits.
pub fn check_table(table: &Value) -> Result<&Map<String, Value>, ApiError> {
    let entries = table
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "must be a JSON object of key → value"))?;
    if entries.len() > MAX_ENTRIES {
        return Err(ApiError::invalid(
            "body",
            format!(
                "holds {} entries; a table holds at most {MAX_ENTRIES}",
                entries.len()
            ),
        ));
    }
    for (key, value) in entries {
        if key.trim().is_empty() {
            return Err(ApiError::invalid("body", "a key is empty"));
        }
        if key.chars().count() > MAX_CELL {
            return Err(ApiError::invalid(
                key,
                format!("the key is longer than {MAX_CELL} characters"),
            ));
        }
        if value.is_object() || value.is_array() {
            return Err(ApiError::invalid(
                key,
                "a lookup value is text, a number, true/false or null — not an object or a list",
            ));
        }
    }
    Ok(entries)
}

/// Replaces (or adds) one table and saves the result as a new version.
pub async fn put(
    state: &AppState,
    who: &Principal,
    pair_id: &PairId,
    flow: &str,
    name: &str,
    table: Value,
    action: &str,
) -> Result<TemplateInfo, ApiError> {
    check_name(name)?;
    check_table(&table)?;
    crate::pairs::get(state, &who.tenant_id, pair_id).await?;
    let mut document = super::current(state, &who.tenant_id, pair_id, flow)
        .await?
        .document;
    let lookups = document
        .as_object_mut()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored template is not an object")))?
        .entry("lookups")
        .or_insert_with(|| Value::Object(Map::new()));
    if !lookups.is_object() {
        *lookups = Value::Object(Map::new());
    }
    lookups[name] = table;
    super::save(state, who, pair_id, flow, document, action).await
}

/// A table as CSV text, `key,value` header first, keys in table order.
/// Values that are not text are written as JSON (`12`, `true`).
pub fn to_csv(table: &Map<String, Value>) -> Result<String, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.into());
    writer.write_record(["key", "value"]).map_err(internal)?;
    for (key, value) in table {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        writer
            .write_record([key.as_str(), text.as_str()])
            .map_err(internal)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.into()))
}

/// Where in the CSV a problem is (1-based line and column).
fn at(line: u64, column: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_csv",
        message: format!("line {line}, column {column}: {message}"),
        field: Some(format!("line {line}, column {column}")),
    }
}

/// Reads a table from CSV: the header `key,value`, then one entry per line.
/// Values are kept as text. The first problem — a wrong header, a line
/// without exactly two columns, an empty or repeated key, text that is not
/// UTF-8, too many entries — is an error naming its line and column.
pub fn from_csv(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut table = Map::new();
    // Key → the line it was first seen on, for "already on line 3".
    let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
    let mut header_seen = false;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            match e.kind() {
                csv::ErrorKind::Utf8 { err, .. } => at(line, err.field() + 1, "is not UTF-8 text"),
                _ => at(line, 1, e),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if !header_seen {
            header_seen = true;
            let header: Vec<String> = record.iter().map(|f| f.trim().to_lowercase()).collect();
            if header != ["key", "value"] {
                let column = if header.first().map(String::as_str) != Some("key") {
                    1
                } else {
                    2
                };
                return Err(at(
                    line,
                    column,
                    format!(
                        "the header must be `key,value`, not `{}`",
                        record.iter().collect::<Vec<_>>().join(",")
                    ),
                ));
            }
            continue;
        }
        if record.len() != 2 {
            return Err(at(
                line,
                record.len().min(2) + 1,
                format!("has {} columns; each line is `key,value`", record.len()),
            ));
        }
        let key = record[0].trim();
        let value = record[1].trim();
        if key.is_empty() {
            return Err(at(line, 1, "the key is empty"));
        }
        for (column, cell) in [(1, key), (2, value)] {
            if cell.chars().count() > MAX_CELL {
                return Err(at(
                    line,
                    column,
                    format!("is longer than {MAX_CELL} characters"),
                ));
            }
        }
        if let Some(earlier) = first_line.get(key) {
            return Err(at(
                line,
                1,
                format!("the key `{key}` is already on line {earlier}"),
            ));
        }
        if table.len() >= MAX_ENTRIES {
            return Err(at(
                line,
                1,
                format!("a table holds at most {MAX_ENTRIES} entries"),
            ));
        }
        first_line.insert(key.to_owned(), line);
        table.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    if !header_seen {
        return Err(at(
            1,
            1,
            "the file is empty; the first line must be `key,value`",
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_round_trips_text_tables_with_commas_and_quotes() {
        let table = json!({"SKU-1": "ITEM 1", "Gift, wrapped": "GW \"deluxe\"", "n": ""});
        let text = to_csv(table.as_object().unwrap()).unwrap();
        assert!(text.starts_with("key,value\n"), "{text}");
        let back = from_csv(text.as_bytes()).unwrap();
        assert_eq!(Value::Object(back), table);
    }

    #[test]
    fn a_byte_order_mark_blank_lines_and_header_case_are_accepted() {
        let got = from_csv(b"\xEF\xBB\xBFKey,Value\n\nA,1\n").unwrap();
        assert_eq!(Value::Object(got), json!({"A": "1"}));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let field = |text: &str| {
            from_csv(text.as_bytes())
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        assert_eq!(
            field("sku,item\nA,1\n").as_deref(),
            Some("line 1, column 1")
        );
        assert_eq!(
            field("key,item\nA,1\n").as_deref(),
            Some("line 1, column 2")
        );
        assert_eq!(
            field("key,value\nA,1\nB\n").as_deref(),
            Some("line 3, column 2")
        );
        assert_eq!(
            field("key,value\nA,1\nB,2,3\n").as_deref(),
            Some("line 3, column 3")
        );
        assert_eq!(
            field("key,value\n,1\n").as_deref(),
            Some("line 2, column 1")
        );
        let dup = from_csv(b"key,value\nA,1\nB,2\nA,3\n").unwrap_err();
        assert_eq!(dup.field(), Some("line 4, column 1"));
        assert!(dup.to_string().contains("already on line 2"), "{dup}");
        let utf8 = from_csv(b"key,value\nA,\xff\n").unwrap_err();
        assert_eq!(utf8.field(), Some("line 2, column 2"));
        assert_eq!(field("").as_deref(), Some("line 1, column 1"));
    }

    #[test]
    fn json_tables_must_be_flat_objects() {
        assert!(check_table(&json!({"a": "b", "n": 2, "t": true})).is_ok());
        assert_eq!(
            check_table(&json!(["a"])).unwrap_err().field(),
            Some("body")
        );
        assert_eq!(
            check_table(&json!({"a": {"b": 1}})).unwrap_err().field(),
            Some("a")
        );
        assert!(check_name("skus_2024-v1").is_ok());
        assert!(check_name("skus.csv").is_err());
        assert!(check_name("").is_err());
    }
}
