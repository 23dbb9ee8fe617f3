//! The `address` conversion: every object at `paths` (Clarity's `line1`,
//! `line2`, `city`, `region`, `postalCode`, `country`) is standardized in
//! place ([`crate::mapping::address::standardize`]): ISO 3166-1 alpha-2
//! country from a name or code, US/CA state and province codes, postal codes
//! in their national shape, trimmed and cased text, street lines longer than
//! `max_line` (default 60) split at a word into the next line, at most
//! `max_lines` (default 2) lines. What cannot be made right is an issue on
//! that field (`shippingAddress.region`), never a guess. An ERP record's
//! address names its fields: `"fields": {"lines": ["ADDRESS1", "ADDRESS2",
//! "ADDRESS3"], "city": "CITY", "region": "STATE", "postal_code": "ZIP",
//! "country": "COUNTRY"}` (any left out keep Clarity's name); with named
//! lines, `max_lines` defaults to their number and may not exceed it, and
//! the lines are packed into the first `max_lines` of them.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::field_path::FieldPath;
use super::overlay::{Overlay, Stage, View};
use super::{conv_error, parse_doc};
use crate::mapping::TemplateError;
use crate::mapping::address::{self, AddressInput, LineLimits};
use crate::mapping::validate::Rule;

#[derive(Debug, Clone)]
pub(super) struct AddressConv {
    paths: Vec<FieldPath>,
    limits: LineLimits,
    fields: AddressFields,
}

/// What an address's fields are called: Clarity's names unless the
/// template says (an ERP record's `ADDRESS1`, `STATE`, `ZIP` …).
#[derive(Debug, Clone)]
struct AddressFields {
    /// Street lines, in order.
    lines: Vec<String>,
    /// Lines beyond `lines` are named `line3`, `line4` … (Clarity's shape);
    /// with named lines there are no more than the names.
    numbered: bool,
    city: String,
    region: String,
    postal_code: String,
    country: String,
}

impl Default for AddressFields {
    fn default() -> Self {
        Self {
            lines: vec!["line1".into(), "line2".into()],
            numbered: true,
            city: "city".into(),
            region: "region".into(),
            postal_code: "postalCode".into(),
            country: "country".into(),
        }
    }
}

impl AddressFields {
    /// The key of street line `n` (from 1).
    fn line(&self, n: usize) -> Option<Cow<'_, str>> {
        match self.lines.get(n.wrapping_sub(1)) {
            Some(k) => Some(Cow::Borrowed(k)),
            None => self.numbered.then(|| Cow::Owned(format!("line{n}"))),
        }
    }

    /// The record's name for a field [`address::standardize`] reports
    /// (`postalCode`, `line2` …).
    fn name_of(&self, field: &str) -> String {
        match field {
            "city" => self.city.clone(),
            "region" => self.region.clone(),
            "postalCode" => self.postal_code.clone(),
            "country" => self.country.clone(),
            other => other
                .strip_prefix("line")
                .and_then(|n| n.parse().ok())
                .and_then(|n| self.line(n))
                .map_or_else(|| other.to_owned(), Cow::into_owned),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressDoc {
    paths: Vec<String>,
    max_line: Option<usize>,
    max_lines: Option<usize>,
    /// Parsed on its own ([`AddressFieldsDoc`]) so that an unknown key is
    /// named with its full path.
    fields: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressFieldsDoc {
    lines: Option<Vec<String>>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl AddressConv {
    /// Check and compile the template's `conversions.address`.
    pub(super) fn compile(v: &Value) -> Result<Self, TemplateError> {
        let d: AddressDoc = parse_doc("address", v)?;
        if d.paths.is_empty() {
            return Err(conv_error("address.paths", "name at least one address"));
        }
        let mut fields = AddressFields::default();
        if let Some(f) = &d.fields {
            let f: AddressFieldsDoc = parse_doc("address.fields", f)?;
            let key = |name: &str, k: String| {
                let k = k.trim();
                if k.is_empty() || k.contains('.') {
                    return Err(conv_error(
                        &format!("address.fields.{name}"),
                        "must be one key of the address object (no dots)",
                    ));
                }
                Ok(k.to_owned())
            };
            if let Some(lines) = f.lines {
                if lines.is_empty() {
                    return Err(conv_error("address.fields.lines", "name at least one line"));
                }
                fields.lines = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, line)| key(&format!("lines[{i}]"), line))
                    .collect::<Result<_, _>>()?;
                fields.numbered = false;
            }
            for (name, given, slot) in [
                ("city", f.city, &mut fields.city),
                ("region", f.region, &mut fields.region),
                ("postal_code", f.postal_code, &mut fields.postal_code),
                ("country", f.country, &mut fields.country),
            ] {
                if let Some(k) = given {
                    *slot = key(name, k)?;
                }
            }
        }
        let max_len = d.max_line.unwrap_or(60);
        let max_lines = d.max_lines.unwrap_or(if fields.numbered {
            2
        } else {
            fields.lines.len()
        });
        if !fields.numbered && max_lines > fields.lines.len() {
            return Err(conv_error(
                "address.max_lines",
                format!(
                    "{max_lines} lines, but `fields.lines` names {}",
                    fields.lines.len()
                ),
            ));
        }
        if max_len < 10 {
            return Err(conv_error(
                "address.max_line",
                format!("{max_len} is too short for a street line (at least 10)"),
            ));
        }
        if max_lines == 0 {
            return Err(conv_error("address.max_lines", "must be at least 1"));
        }
        Ok(Self {
            paths: d
                .paths
                .iter()
                .map(|p| FieldPath::parse(p).map_err(|m| conv_error("address.paths", m)))
                .collect::<Result<_, _>>()?,
            limits: LineLimits { max_len, max_lines },
            fields,
        })
    }

    /// [`Self::apply`] on the overlay: only an address that would change is
    /// copied.
    pub(super) fn apply_over(&self, o: &mut Overlay<'_>, run: &mut Stage<'_>) {
        for path in &self.paths {
            if self.needs_work(path, o.view()) {
                o.ensure([path]);
                self.apply_path(path, &mut o.record, run);
            }
        }
    }
}

impl AddressConv {
    pub(super) fn apply(&self, record: &mut Value, run: &mut Stage<'_>) {
        for path in &self.paths {
            self.apply_path(path, record, run);
        }
    }

    /// Whether some address at `path` would change (or be refused).
    fn needs_work(&self, path: &FieldPath, view: View<'_>) -> bool {
        let mut needed = false;
        path.visit_view(view, &mut |_, v| {
            if let Some(fields) = v.as_object() {
                needed = needed || !already_standard(fields, &self.fields, self.limits);
            }
        });
        needed
    }

    fn apply_path(&self, path: &FieldPath, record: &mut Value, run: &mut Stage<'_>) {
        {
            path.visit_mut(record, &mut |at, value| {
                let Some(fields) = value.as_object_mut() else {
                    return;
                };
                let names = &self.fields;
                if already_standard(fields, names, self.limits) {
                    return;
                }
                let standardized = {
                    let text = |k: &str| fields.get(k).and_then(Value::as_str);
                    let input = AddressInput {
                        lines: names.lines.iter().filter_map(|k| text(k)).collect(),
                        city: text(&names.city),
                        region: text(&names.region),
                        postal_code: text(&names.postal_code),
                        country: text(&names.country),
                    };
                    address::standardize(&input, self.limits)
                };
                match standardized {
                    Ok(std) => {
                        // Most addresses are already standard: write only what changed.
                        let mut put = |k: &str, v: Option<&str>| match v {
                            Some(v) if fields.get(k).and_then(Value::as_str) == Some(v) => {}
                            Some(v) => {
                                fields.insert(k.to_owned(), Value::String(v.to_owned()));
                            }
                            None => {
                                if fields.get(k).is_some_and(|x| !x.is_null()) {
                                    fields.remove(k);
                                }
                            }
                        };
                        for (i, key) in names.lines.iter().enumerate() {
                            put(key, std.line(i + 1));
                        }
                        for extra in names.lines.len() + 1..=std.lines.len() {
                            if let Some(key) = names.line(extra) {
                                put(&key, std.line(extra));
                            }
                        }
                        put(&names.city, std.city.as_deref());
                        put(&names.region, std.region.as_deref());
                        put(&names.postal_code, std.postal_code.as_deref());
                        put(&names.country, std.country.as_deref());
                    }
                    Err(e) => {
                        let field = format!("{}.{}", path.render(at), names.name_of(&e.field));
                        let rule = match e.field.as_str() {
                            "country" | "region" => Rule::Enum,
                            "postalCode" => Rule::Type,
                            _ => Rule::MaxLen,
                        };
                        let suggestion = match e.field.as_str() {
                            "country" => {
                                "use an ISO 3166-1 country code or English name (US, Germany)"
                                    .to_owned()
                            }
                            "region" => {
                                "use the two-letter state or province code (CA, ON)".to_owned()
                            }
                            "postalCode" => {
                                "correct the postal code in the source system".to_owned()
                            }
                            _ => format!(
                                "shorten the street lines to {} characters or fewer each",
                                self.limits.max_len
                            ),
                        };
                        run.issue(
                            field,
                            Some(Value::String(e.value.clone())),
                            rule,
                            e.to_string(),
                            Some(suggestion),
                        );
                    }
                }
            });
        }
    }
}

/// Whether standardizing the address in `fields` would write nothing: every
/// field absent, null or text that [`address::is_standard`] accepts. Most
/// orders come from a shop that already stores clean addresses.
fn already_standard(
    fields: &Map<String, Value>,
    names: &AddressFields,
    limits: LineLimits,
) -> bool {
    // `None` for absent or null; `Err` for a value standardizing would drop.
    let text = |key: &str| match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(()),
    };
    let mut buffer = [""; 4];
    let (mut count, mut gap) = (0, false);
    for key in &names.lines {
        match text(key) {
            Err(()) => return false,
            Ok(None) => gap = true,
            // A line after an absent one moves up; more lines than the
            // buffer holds take the full path.
            Ok(Some(_)) if gap || count == buffer.len() => return false,
            Ok(Some(line)) => {
                buffer[count] = line;
                count += 1;
            }
        }
    }
    let (Ok(city), Ok(region), Ok(postal_code), Ok(country)) = (
        text(&names.city),
        text(&names.region),
        text(&names.postal_code),
        text(&names.country),
    ) else {
        return false;
    };
    address::is_standard(&buffer[..count], city, region, postal_code, country, limits)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, with_conversions};
    use crate::mapping::validate::Rule;
    use serde_json::json;

    #[test]
    fn addresses_are_standardized_in_place_and_what_cannot_be_is_an_issue_on_the_field() {
        let t = with_conversions(
            json!({"address": {"paths": ["shippingAddress", "billingAddress"], "max_line": 20}}),
        );
        let source = json!({
            "shippingAddress": {"line1": "  1234 North Main Street Suite 500 ", "city": "SPRINGFIELD", "region": "illinois", "postalCode": "627011234", "country": "united states"},
            "billingAddress": {"line1": "1 A St", "region": "Narnia", "country": "USA"}
        });
        let m = run(&t, &source, None);
        let copy = &m.output.as_ref().unwrap()["copy"];
        assert_eq!(
            copy["shippingAddress"],
            json!({"line1": "1234 North Main", "line2": "Street Suite 500", "city": "Springfield", "region": "IL", "postalCode": "62701-1234", "country": "US"})
        );
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        let issue = &m.issues[0];
        assert_eq!(issue.field, "billingAddress.region");
        assert_eq!(issue.value, Some(json!("Narnia")));
        assert_eq!(issue.rule, Rule::Enum);
        assert_eq!(issue.record, "CO-1");
        assert!(issue.suggestion.as_deref().unwrap().contains("two-letter"));
        assert!(m.normalized.is_none(), "kept only for a history");
    }
}
