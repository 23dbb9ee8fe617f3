//! The simulator's query engine: the `readByQuery` string syntax (spec §5.2) and
//! the `query` filter grammar (spec §5.3) both become one [`Expr`], evaluated
//! against stored records.
//!
//! Comparison follows the field's type as `lookup` gives it (spec §5.3):
//! numbers as decimals, dates and timestamps (`MM/DD/YYYY[ HH:MM:SS]`) as
//! times, booleans as booleans, text as strings (case-sensitive unless the
//! query asks otherwise). A field with no known type, or a value that does not
//! parse as its type, compares by the look of the values.

use std::cmp::Ordering;
use std::str::FromStr;

use super::fields::FieldType;
use super::wire::{self, Condition};
use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    True,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        field: String,
        op: Cmp,
        value: String,
    },
    Like {
        field: String,
        pattern: String,
        negated: bool,
    },
    In {
        field: String,
        values: Vec<String>,
        negated: bool,
    },
    Between {
        field: String,
        low: String,
        high: String,
    },
    IsNull {
        field: String,
        negated: bool,
    },
    /// `rownum = N` and friends: applied by the caller on the result position.
    RowNum {
        op: Cmp,
        value: u64,
    },
}

/// The one-letter codes `readByQuery` strings use for some fields (spec §5.2,
/// §6.1, §6.3), and the values records hold.
fn legacy_code(object: &str, field: &str, code: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = match (object, field.to_ascii_uppercase().as_str()) {
        ("SODOCUMENT", "STATE") => &[
            ("S", "Submitted"),
            ("A", "Approved"),
            ("X", "Partially Approved"),
            ("R", "Declined"),
            ("I", "Draft"),
            ("O", "Pending"),
            ("D", "Closed"),
            ("G", "In Progress"),
            ("C", "Converted"),
            ("P", "Partially Converted"),
        ],
        ("ITEM", "ITEMTYPE") => &[
            ("I", "Inventory"),
            ("NI", "Non-Inventory"),
            ("NP", "Non-Inventory (Purchase only)"),
            ("NS", "Non-Inventory (Sales only)"),
            ("K", "Kit"),
            ("SK", "Stockable Kit"),
        ],
        (_, "STATUS") => &[("T", "active"), ("F", "inactive")],
        _ => return None,
    };
    table
        .iter()
        .find(|(c, _)| *c == code.trim())
        .map(|(_, v)| *v)
}

impl Expr {
    /// Rewrites the codes a `readByQuery` string uses (`STATE = 'O'`,
    /// `ITEMTYPE = 'I'`, `STATUS = 'T'`) into the values records hold. Values that
    /// are not codes stay as written.
    pub fn decode_legacy_codes(self, object: &str) -> Expr {
        let decode = |field: &str, v: String| -> String {
            legacy_code(object, field, &v)
                .map(str::to_owned)
                .unwrap_or(v)
        };
        match self {
            Expr::And(v) => Expr::And(
                v.into_iter()
                    .map(|e| e.decode_legacy_codes(object))
                    .collect(),
            ),
            Expr::Or(v) => Expr::Or(
                v.into_iter()
                    .map(|e| e.decode_legacy_codes(object))
                    .collect(),
            ),
            Expr::Not(e) => Expr::Not(Box::new(e.decode_legacy_codes(object))),
            Expr::Compare { field, op, value } => {
                let value = decode(&field, value);
                Expr::Compare { field, op, value }
            }
            Expr::In {
                field,
                values,
                negated,
            } => {
                let values = values.into_iter().map(|v| decode(&field, v)).collect();
                Expr::In {
                    field,
                    values,
                    negated,
                }
            }
            other => other,
        }
    }
}

/// A query the simulator cannot run, with the text to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl Expr {
    /// Every field the expression names (for the "field does not exist" check).
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::True | Expr::RowNum { .. } => {}
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.collect_fields(out)),
            Expr::Not(e) => e.collect_fields(out),
            Expr::Compare { field, .. }
            | Expr::Like { field, .. }
            | Expr::In { field, .. }
            | Expr::Between { field, .. }
            | Expr::IsNull { field, .. } => out.push(field),
        }
    }

    /// Does the record match, comparing every field by the look of its values?
    /// (`rownum` is left to the caller.)
    pub fn matches(&self, record: &serde_json::Map<String, Value>, case_insensitive: bool) -> bool {
        self.matches_typed(record, case_insensitive, &|_| None)
    }

    /// Does the record match, comparing each field as the type `types` gives it?
    pub fn matches_typed(
        &self,
        record: &serde_json::Map<String, Value>,
        case_insensitive: bool,
        types: &dyn Fn(&str) -> Option<FieldType>,
    ) -> bool {
        let cmp = |field: &str, a: &str, b: &str| compare_as(a, b, types(field), case_insensitive);
        let eq = |field: &str, a: &str, b: &str| cmp(field, a, b) == Ordering::Equal;
        match self {
            Expr::True | Expr::RowNum { .. } => true,
            Expr::And(v) => v
                .iter()
                .all(|e| e.matches_typed(record, case_insensitive, types)),
            Expr::Or(v) => v
                .iter()
                .any(|e| e.matches_typed(record, case_insensitive, types)),
            Expr::Not(e) => !e.matches_typed(record, case_insensitive, types),
            Expr::Compare { field, op, value } => match lookup(record, field) {
                None => *op == Cmp::Ne,
                Some(actual) => {
                    let ord = cmp(field, &actual, value);
                    match op {
                        Cmp::Eq => ord == Ordering::Equal,
                        Cmp::Ne => ord != Ordering::Equal,
                        Cmp::Lt => ord == Ordering::Less,
                        Cmp::Le => ord != Ordering::Greater,
                        Cmp::Gt => ord == Ordering::Greater,
                        Cmp::Ge => ord != Ordering::Less,
                    }
                }
            },
            Expr::Like {
                field,
                pattern,
                negated,
            } => {
                let hit = lookup(record, field).is_some_and(|v| {
                    if case_insensitive {
                        like(&v.to_lowercase(), &pattern.to_lowercase())
                    } else {
                        like(&v, pattern)
                    }
                });
                hit != *negated
            }
            Expr::In {
                field,
                values,
                negated,
            } => {
                let hit =
                    lookup(record, field).is_some_and(|v| values.iter().any(|x| eq(field, &v, x)));
                hit != *negated
            }
            Expr::Between { field, low, high } => lookup(record, field).is_some_and(|v| {
                cmp(field, &v, low) != Ordering::Less && cmp(field, &v, high) != Ordering::Greater
            }),
            Expr::IsNull { field, negated } => lookup(record, field).is_none() != *negated,
        }
    }

    /// The `rownum` limit the query sets at its top level, if any.
    pub fn row_limit(&self) -> Option<u64> {
        let limit = |e: &Expr| match e {
            Expr::RowNum { op, value } => match op {
                Cmp::Eq | Cmp::Le => Some(*value),
                Cmp::Lt => Some(value.saturating_sub(1)),
                _ => None,
            },
            _ => None,
        };
        match self {
            Expr::And(v) => v.iter().filter_map(limit).min(),
            e => limit(e),
        }
    }

    /// Equalities on a field at the top level (`A = 'x' AND …`), for pushing a
    /// filter down into SQL. The whole expression is still evaluated afterwards.
    pub fn top_level_equal(&self, field: &str) -> Option<&str> {
        fn hit<'e>(e: &'e Expr, field: &str) -> Option<&'e str> {
            match e {
                Expr::Compare {
                    field: f,
                    op: Cmp::Eq,
                    value,
                } if f.eq_ignore_ascii_case(field) => Some(value.as_str()),
                _ => None,
            }
        }
        match self {
            Expr::And(v) => v.iter().find_map(|e| hit(e, field)),
            e => hit(e, field),
        }
    }

    /// A lower bound on a timestamp field at the top level (`WHENMODIFIED >= …`).
    pub fn top_level_lower_bound(&self, field: &str) -> Option<i64> {
        let hit = |e: &Expr| match e {
            Expr::Compare {
                field: f,
                op,
                value,
            } if f.eq_ignore_ascii_case(field) && matches!(op, Cmp::Ge | Cmp::Gt) => {
                wire::parse_timestamp(value)
            }
            _ => None,
        };
        match self {
            Expr::And(v) => v.iter().filter_map(hit).max(),
            e => hit(e),
        }
    }
}

/// A field's value as text; `None` when it is absent or empty (Intacct's NULL).
/// Tries the literal key first (`TERM.NAME`), then a dotted path.
pub fn lookup(record: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    let upper = field.trim().to_ascii_uppercase();
    let value = record.get(&upper).or_else(|| {
        let mut parts = upper.split('.');
        let mut cur = record.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    })?;
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => return None,
        Value::Array(_) | Value::Object(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

pub fn compare(a: &str, b: &str, case_insensitive: bool) -> Ordering {
    if let (Ok(x), Ok(y)) = (Decimal::from_str(a.trim()), Decimal::from_str(b.trim())) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (wire::parse_timestamp(a), wire::parse_timestamp(b)) {
        return x.cmp(&y);
    }
    if case_insensitive {
        a.to_lowercase().cmp(&b.to_lowercase())
    } else {
        a.cmp(b)
    }
}

/// Compares two values as a field of type `ty`. A value that does not parse
/// as the type (or no type at all) falls back to [`compare`].
pub fn compare_as(a: &str, b: &str, ty: Option<FieldType>, case_insensitive: bool) -> Ordering {
    let text = |a: &str, b: &str| {
        if case_insensitive {
            a.to_lowercase().cmp(&b.to_lowercase())
        } else {
            a.cmp(b)
        }
    };
    match ty {
        None => compare(a, b, case_insensitive),
        Some(FieldType::Text) => text(a, b),
        Some(FieldType::Integer | FieldType::Decimal) => {
            match (Decimal::from_str(a.trim()), Decimal::from_str(b.trim())) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => compare(a, b, case_insensitive),
            }
        }
        Some(FieldType::Date | FieldType::Timestamp) => {
            match (wire::parse_timestamp(a), wire::parse_timestamp(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => compare(a, b, case_insensitive),
            }
        }
        Some(FieldType::Boolean) => match (boolean(a), boolean(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => compare(a, b, case_insensitive),
        },
    }
}

/// Intacct writes booleans `true`/`false` in generic functions and `T`/`F` in
/// some legacy query fields (spec §10).
fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => Some(true),
        "false" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// SQL `LIKE` with `%` and `_`.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // dp[j]: pattern[..i] matches text[..j]
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= dp[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = dp[j - 1] && (pc == '_' || pc == t[j - 1]);
            }
        }
        dp = next;
    }
    dp[t.len()]
}

// ---------------------------------------------------------------------------
// The `query` filter grammar
// ---------------------------------------------------------------------------

pub fn from_condition(c: &Condition) -> Result<Expr, QueryError> {
    use wire::Condition as C;
    let cmp = |fv: &wire::FieldValue, op: Cmp| Expr::Compare {
        field: fv.field.trim().to_owned(),
        op,
        value: fv.value.clone(),
    };
    Ok(match c {
        C::And(cs) | C::Or(cs) => {
            if cs.conditions.len() < 2 {
                return Err(QueryError(
                    "'and' and 'or' need at least two conditions".to_owned(),
                ));
            }
            let v = cs
                .conditions
                .iter()
                .map(from_condition)
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(c, C::And(_)) {
                Expr::And(v)
            } else {
                Expr::Or(v)
            }
        }
        C::EqualTo(fv) => cmp(fv, Cmp::Eq),
        C::NotEqualTo(fv) => cmp(fv, Cmp::Ne),
        C::LessThan(fv) => cmp(fv, Cmp::Lt),
        C::LessThanOrEqualTo(fv) => cmp(fv, Cmp::Le),
        C::GreaterThan(fv) => cmp(fv, Cmp::Gt),
        C::GreaterThanOrEqualTo(fv) => cmp(fv, Cmp::Ge),
        C::Like(fv) | C::NotLike(fv) => Expr::Like {
            field: fv.field.trim().to_owned(),
            pattern: fv.value.clone(),
            negated: matches!(c, C::NotLike(_)),
        },
        C::Between(fv) => {
            let [low, high] = fv.value.as_slice() else {
                return Err(QueryError("'between' takes exactly two values".to_owned()));
            };
            Expr::Between {
                field: fv.field.trim().to_owned(),
                low: low.clone(),
                high: high.clone(),
            }
        }
        C::In(fv) | C::NotIn(fv) => {
            if fv.value.is_empty() || fv.value.len() > 1000 {
                return Err(QueryError("'in' takes 1 to 1000 values".to_owned()));
            }
            Expr::In {
                field: fv.field.trim().to_owned(),
                values: fv.value.clone(),
                negated: matches!(c, C::NotIn(_)),
            }
        }
        C::IsNull(f) | C::IsNotNull(f) => Expr::IsNull {
            field: f.field.trim().to_owned(),
            negated: matches!(c, C::IsNotNull(_)),
        },
    })
}

// ---------------------------------------------------------------------------
// The readByQuery string syntax
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError("unterminated string literal".to_owned())),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            v.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '<' | '>' | '=' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "<=" => Some("<="),
                    ">=" => Some(">="),
                    "<>" => Some("<>"),
                    "!=" => Some("!="),
                    _ => None,
                };
                if let Some(op) = op {
                    out.push(Tok::Op(op));
                    i += 2;
                } else {
                    out.push(Tok::Op(match c {
                        '<' => "<",
                        '>' => ">",
                        '=' => "=",
                        _ => return Err(QueryError("unexpected '!'".to_owned())),
                    }));
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(QueryError(format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.and()?];
        while self.keyword("OR") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut v = vec![self.not()?];
        while self.keyword("AND") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }
    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn value(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Tok::Str(s)) | Some(Tok::Num(s)) => Ok(s),
            // Booleans and codes are sometimes written bare (STATUS = T).
            Some(Tok::Ident(s)) => Ok(s),
            other => Err(QueryError(format!("expected a value, found {other:?}"))),
        }
    }
    fn primary(&mut self) -> Result<Expr, QueryError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(QueryError("missing ')'".to_owned())),
                }
            }
            Some(Tok::Ident(field)) => {
                if field.eq_ignore_ascii_case("rownum") {
                    let op = match self.next() {
                        Some(Tok::Op(op)) => cmp_of(op)?,
                        other => {
                            return Err(QueryError(format!(
                                "expected an operator, found {other:?}"
                            )));
                        }
                    };
                    let v = self.value()?;
                    let value = v
                        .parse()
                        .map_err(|_| QueryError(format!("rownum needs a number, not '{v}'")))?;
                    return Ok(Expr::RowNum { op, value });
                }
                if self.keyword("IS") {
                    let negated = self.keyword("NOT");
                    if !self.keyword("NULL") {
                        return Err(QueryError("expected NULL after IS".to_owned()));
                    }
                    return Ok(Expr::IsNull { field, negated });
                }
                let negated = self.keyword("NOT");
                if self.keyword("LIKE") {
                    let pattern = self.value()?;
                    return Ok(Expr::Like {
                        field,
                        pattern,
                        negated,
                    });
                }
                if self.keyword("IN") {
                    if self.next() != Some(Tok::LParen) {
                        return Err(QueryError("expected '(' after IN".to_owned()));
                    }
                    let mut values = vec![self.value()?];
                    loop {
                        match self.next() {
                            Some(Tok::Comma) => values.push(self.value()?),
                            Some(Tok::RParen) => break,
                            other => {
                                return Err(QueryError(format!(
                                    "expected ',' or ')', found {other:?}"
                                )));
                            }
                        }
                    }
                    return Ok(Expr::In {
                        field,
                        values,
                        negated,
                    });
                }
                if negated {
                    return Err(QueryError("expected LIKE or IN after NOT".to_owned()));
                }
                let op = match self.next() {
                    Some(Tok::Op(op)) => cmp_of(op)?,
                    other => {
                        return Err(QueryError(format!(
                            "expected an operator after {field}, found {other:?}"
                        )));
                    }
                };
                let value = self.value()?;
                Ok(Expr::Compare { field, op, value })
            }
            other => Err(QueryError(format!(
                "expected a field name, found {other:?}"
            ))),
        }
    }
}

fn cmp_of(op: &str) -> Result<Cmp, QueryError> {
    Ok(match op {
        "=" => Cmp::Eq,
        "<>" | "!=" => Cmp::Ne,
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        other => return Err(QueryError(format!("unknown operator {other}"))),
    })
}

/// Parses a `readByQuery` query string; an empty one matches everything.
pub fn parse_query_string(s: &str) -> Result<Expr, QueryError> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Ok(Expr::True);
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(QueryError(format!(
            "unexpected {:?} after the end of the condition",
            p.toks[p.pos]
        )));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_and_evaluates_the_spec_examples() {
        let r = rec(
            json!({"ITEMID":"SKU-1001","STATUS":"active","BASEPRICE":"19.99",
            "WHENMODIFIED":"06/01/2024 10:02:11","NAME":"Jane's Deli",
            "DISPLAYCONTACT":{"EMAIL1":"jane@example.com"}}),
        );
        for (q, want) in [
            ("", true),
            ("WHENMODIFIED >= '06/01/2024 09:55:00'", true),
            ("WHENMODIFIED > '06/01/2024 10:02:11'", false),
            ("BASEPRICE > 9.5", true),
            ("BASEPRICE < 100 AND STATUS = 'active'", true),
            ("STATUS = 'Active'", false),
            ("NAME = 'Jane\\'s Deli'", true),
            ("ITEMID like 'SKU-10%'", true),
            ("ITEMID not like 'SKU-2%'", true),
            ("ITEMID in ('SKU-1', 'SKU-1001')", true),
            ("ITEMID not in ('SKU-1001')", false),
            (
                "NOT (STATUS = 'inactive') AND (ITEMID = 'x' OR BASEPRICE = 19.99)",
                true,
            ),
            ("PARENTID IS NULL", true),
            ("PARENTID IS NOT NULL", false),
            ("DISPLAYCONTACT.EMAIL1 = 'jane@example.com'", true),
            ("ITEMID = 'SKU-1001' AND rownum = 1", true),
        ] {
            let e = parse_query_string(q).unwrap_or_else(|e| panic!("{q}: {e:?}"));
            assert_eq!(e.matches(&r, false), want, "{q}");
        }
        assert!(
            parse_query_string("STATUS = 'Active'")
                .unwrap()
                .matches(&r, true)
        );
    }

    #[test]
    fn rejects_broken_query_strings() {
        for q in [
            "STATUS =",
            "STATUS = 'x",
            "(STATUS = 'x'",
            "STATUS 'x'",
            "= 1",
            "A = 1 B = 2",
        ] {
            assert!(parse_query_string(q).is_err(), "{q}");
        }
    }

    #[test]
    fn finds_pushdown_candidates_and_row_limits() {
        let e = parse_query_string(
            "DOCPARID = 'Sales Order' AND PONUMBER = 'CO-1' AND WHENMODIFIED >= '06/01/2024' AND rownum <= 5",
        )
        .unwrap();
        assert_eq!(e.top_level_equal("ponumber"), Some("CO-1"));
        assert_eq!(e.top_level_equal("DOCNO"), None);
        assert_eq!(
            e.top_level_lower_bound("WHENMODIFIED"),
            Some(1_717_200_000_000)
        );
        assert_eq!(e.row_limit(), Some(5));
        assert_eq!(e.fields(), vec!["DOCPARID", "PONUMBER", "WHENMODIFIED"]);
    }

    #[test]
    fn converts_the_query_filter_grammar() {
        let xml = "<filter><and><equalto><field>DOCPARID</field><value>Sales Order</value></equalto>\
                   <between><field>TOTAL</field><value>10</value><value>50</value></between></and></filter>";
        let f: wire::Filter = quick_xml::de::from_str(xml).unwrap();
        let e = from_condition(&f.condition).unwrap();
        let r = rec(json!({"DOCPARID":"Sales Order","TOTAL":"43.18"}));
        assert!(e.matches(&r, false));
        let bad = "<filter><and><equalto><field>A</field><value>1</value></equalto></and></filter>";
        let f: wire::Filter = quick_xml::de::from_str(bad).unwrap();
        assert!(from_condition(&f.condition).is_err());
    }

    #[test]
    fn like_handles_wildcards() {
        assert!(like("SKU-1001", "SKU-1__1"));
        assert!(like("abc", "%"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a%c"));
    }
}
