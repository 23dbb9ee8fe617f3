//! Address standardization: the shape ERPs and tax engines expect.
//!
//! Shops let customers type anything: `" 12  main st "`, `"u.s.a."`,
//! `"ontario"`, `"k1a0b1"`. [`standardize`] turns that into ISO 3166-1
//! alpha-2 countries, US/CA subdivision codes, postal codes in their
//! national shape, trimmed lines that fit the target's column width, and a
//! cased city. What cannot be made right is refused with an
//! [`AddressError`] naming the field and the value, never guessed.
//!
//! The country and subdivision tables are `jobs/data/countries.json` and
//! `jobs/data/subdivisions.json`, embedded and indexed on first use.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::connectors::clarity::wire;

/// An address as a source system gives it: any number of street lines, the
/// rest free text. Blank fields count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressInput<'a> {
    pub lines: Vec<&'a str>,
    pub city: Option<&'a str>,
    pub region: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: Option<&'a str>,
}

impl<'a> From<&'a wire::Address> for AddressInput<'a> {
    fn from(a: &'a wire::Address) -> Self {
        Self {
            lines: [&a.line1, &a.line2]
                .into_iter()
                .filter_map(|l| l.as_deref())
                .collect(),
            city: a.city.as_deref(),
            region: a.region.as_deref(),
            postal_code: a.postal_code.as_deref(),
            country: a.country.as_deref(),
        }
    }
}

/// A standardized address. `country` is an ISO 3166-1 alpha-2 code; `region`
/// is a two-letter code for US and CA and the trimmed text elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardAddress {
    pub lines: Vec<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

impl StandardAddress {
    /// Street line `n`, 1-based as ERPs number them (`line(1)` is `ADDRESS1`).
    pub fn line(&self, n: usize) -> Option<&str> {
        n.checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .map(String::as_str)
    }
}

/// How many street lines the target has and how wide each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimits {
    pub max_len: usize,
    pub max_lines: usize,
}

impl LineLimits {
    /// Intacct `MAILADDRESS`: `ADDRESS1` and `ADDRESS2`, 60 characters each.
    pub const INTACCT: Self = Self {
        max_len: 60,
        max_lines: 2,
    };
    /// Sage Pro `Address1` and `Address2`, 30 characters each (see
    /// `connectors::sagepro::wire::Address::fields`).
    pub const SAGE_PRO: Self = Self {
        max_len: 30,
        max_lines: 2,
    };
}

/// A field that cannot be standardized: its name as in the source record
/// (`country`, `region`, `postalCode`, `line1`, …), the value as given, and
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` = {value:?}: {reason}")]
pub struct AddressError {
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl AddressError {
    fn new(field: impl Into<String>, value: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Standardize an address for a target whose street lines are `limits`.
///
/// The country is resolved first because the region and postal code rules
/// depend on it; with no country they are only trimmed.
pub fn standardize(
    input: &AddressInput<'_>,
    limits: LineLimits,
) -> Result<StandardAddress, AddressError> {
    let country = match present(input.country) {
        None => None,
        Some(raw) => Some(country_code(raw).ok_or_else(|| {
            AddressError::new(
                "country",
                raw,
                "not an ISO 3166-1 country name, alias or code",
            )
        })?),
    };
    let region = match present(input.region) {
        None => None,
        Some(raw) => Some(standard_region(country, raw)?),
    };
    let postal_code = match present(input.postal_code) {
        None => None,
        Some(raw) => Some(standard_postal_code(country, raw)?),
    };
    Ok(StandardAddress {
        lines: fit_lines(&input.lines, limits)?,
        city: present(input.city).map(|c| city_case(&collapse_whitespace(c))),
        region,
        postal_code,
        country: country.map(str::to_owned),
    })
}

/// True when [`standardize`] would give back every field exactly as it is
/// given, so a caller can skip it: the common case of an address that was
/// standardized before, checked without allocating. Every `Some` field must
/// be non-blank; `None` is an absent field. `false` only means "not sure",
/// never "invalid": [`standardize`] then decides.
pub fn is_standard(
    lines: &[&str],
    city: Option<&str>,
    region: Option<&str>,
    postal_code: Option<&str>,
    country: Option<&str>,
    limits: LineLimits,
) -> bool {
    if lines.len() > limits.max_lines
        || !lines
            .iter()
            .all(|l| is_collapsed(l) && l.chars().count() <= limits.max_len)
    {
        return false;
    }
    let country = match country {
        None => None,
        Some(c) if STANDARD_COUNTRIES.contains(c) => Some(c),
        Some(_) => return false,
    };
    // Mixed case is what `city_case` leaves alone; one-case cities would be
    // re-cased, so they take the full path.
    if let Some(c) = city
        && !(is_collapsed(c)
            && c.chars().any(char::is_uppercase)
            && c.chars().any(char::is_lowercase))
    {
        return false;
    }
    if let Some(r) = region {
        let ok = match country {
            Some(c @ ("US" | "CA")) => STANDARD_REGIONS.get(c).is_some_and(|s| s.contains(r)),
            _ => is_collapsed(r),
        };
        if !ok {
            return false;
        }
    }
    match postal_code {
        None => true,
        Some(p) => match country {
            Some("US") => {
                let b = p.as_bytes();
                let digits = |t: &[u8]| t.iter().all(u8::is_ascii_digit);
                match b.len() {
                    5 => digits(b),
                    10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
                    _ => false,
                }
            }
            Some("CA") => {
                let b = p.as_bytes();
                b.len() == 7 && b[3] == b' ' && {
                    let mut compact = [0u8; 6];
                    compact[..3].copy_from_slice(&b[..3]);
                    compact[3..].copy_from_slice(&b[4..]);
                    canadian_shape(&compact)
                }
            }
            Some("GB" | "GG" | "JE" | "IM") => {
                let b = p.as_bytes();
                if p == "GIR 0AA" {
                    return true;
                }
                if !(6..=8).contains(&b.len()) || b[b.len() - 4] != b' ' {
                    return false;
                }
                let mut compact = [0u8; 7];
                let n = b.len() - 1;
                compact[..n - 3].copy_from_slice(&b[..n - 3]);
                compact[n - 3..n].copy_from_slice(&b[n - 2..]);
                // The slow path upper-cases and drops whitespace first.
                compact[..n]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                    && uk_shape(&compact[..n])
            }
            _ => is_collapsed(p),
        },
    }
}

/// Non-empty and equal to its [`collapse_whitespace`]: no leading, trailing
/// or repeated whitespace, and no whitespace but a plain space.
fn is_collapsed(text: &str) -> bool {
    let mut prev_space = true;
    for c in text.chars() {
        if c.is_whitespace() {
            if c != ' ' || prev_space {
                return false;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    !prev_space
}

/// The ISO 3166-1 alpha-2 code for a country name, alias, alpha-2 or
/// alpha-3 code, ignoring case, accents, dots and a leading "the".
pub fn country_code(text: &str) -> Option<&'static str> {
    COUNTRIES.by_key.get(&lookup_key(text)).copied()
}

/// The English short name of an alpha-2 country code.
pub fn country_name(alpha2: &str) -> Option<&'static str> {
    COUNTRIES
        .names
        .get(alpha2.trim().to_ascii_uppercase().as_str())
        .copied()
}

/// The two-letter code of a US or Canadian subdivision from its name, alias
/// or code. `None` for other countries or an unknown name.
pub fn region_code(country: &str, text: &str) -> Option<&'static str> {
    SUBDIVISIONS.get(country)?.get(&lookup_key(text)).copied()
}

/// Trim and turn every run of whitespace into one space.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn present(field: Option<&str>) -> Option<&str> {
    field.map(str::trim).filter(|s| !s.is_empty())
}

fn standard_region(country: Option<&str>, raw: &str) -> Result<String, AddressError> {
    match country {
        Some(c @ ("US" | "CA")) => region_code(c, raw).map(str::to_owned).ok_or_else(|| {
            let what = if c == "US" {
                "a US state, district or territory"
            } else {
                "a Canadian province or territory"
            };
            AddressError::new("region", raw, format!("not {what}"))
        }),
        _ => Ok(collapse_whitespace(raw)),
    }
}

fn standard_postal_code(country: Option<&str>, raw: &str) -> Result<String, AddressError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let shaped = match country {
        Some("US") => us_zip(&compact),
        Some("CA") => canadian_postal_code(&compact),
        // The Crown dependencies use the UK format.
        Some("GB" | "GG" | "JE" | "IM") => uk_postcode(&compact),
        _ => return Ok(collapse_whitespace(raw)),
    };
    shaped.ok_or_else(|| {
        let expected = match country {
            Some("US") => "a US ZIP code: 5 digits or 5+4 (12345-6789)",
            Some("CA") => "a Canadian postal code: A1A 1A1",
            _ => "a UK postcode: outward and inward code (SW1A 1AA)",
        };
        AddressError::new("postalCode", raw, format!("expected {expected}"))
    })
}

fn us_zip(s: &str) -> Option<String> {
    // Checked first so the byte slicing below stays on character boundaries.
    if !s.is_ascii() {
        return None;
    }
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    match s.len() {
        5 if digits(s) => Some(s.to_owned()),
        9 if digits(s) => Some(format!("{}-{}", &s[..5], &s[5..])),
        10 if digits(&s[..5]) && &s[5..6] == "-" && digits(&s[6..]) => Some(s.to_owned()),
        _ => None,
    }
}

fn canadian_postal_code(s: &str) -> Option<String> {
    let s = s.replace('-', "");
    canadian_shape(s.as_bytes()).then(|| format!("{} {}", &s[..3], &s[3..]))
}

/// `A1A1A1` (no space), upper case, with the letters Canada Post uses.
fn canadian_shape(b: &[u8]) -> bool {
    // Canada Post never uses D, F, I, O, Q or U, nor W or Z as the first letter.
    let letter = |c: u8| c.is_ascii_uppercase() && !b"DFIOQU".contains(&c);
    b.len() == 6
        && letter(b[0])
        && !b"WZ".contains(&b[0])
        && b[1].is_ascii_digit()
        && letter(b[2])
        && b[3].is_ascii_digit()
        && letter(b[4])
        && b[5].is_ascii_digit()
}

fn uk_postcode(s: &str) -> Option<String> {
    if s == "GIR0AA" {
        return Some("GIR 0AA".to_owned());
    }
    if !s.is_ascii() || !uk_shape(s.as_bytes()) {
        return None;
    }
    let (outward, inward) = s.split_at(s.len() - 3);
    Some(format!("{outward} {inward}"))
}

/// A compact (no space) UK postcode's shape, ASCII only.
fn uk_shape(s: &[u8]) -> bool {
    if !(5..=7).contains(&s.len()) || !s.is_ascii() {
        return false;
    }
    let (outward, i) = s.split_at(s.len() - 3);
    let inward_ok =
        i[0].is_ascii_digit() && i[1].is_ascii_alphabetic() && i[2].is_ascii_alphabetic();
    // Outward codes: A9, A99, AA9, AA99, A9A, AA9A.
    let mut shape = [0u8; 4];
    for (to, c) in shape.iter_mut().zip(outward) {
        *to = if c.is_ascii_digit() { b'9' } else { b'A' };
    }
    let outward_ok = matches!(
        &shape[..outward.len()],
        b"A9" | b"A99" | b"AA9" | b"AA99" | b"A9A" | b"AA9A"
    );
    inward_ok && outward_ok
}

/// Title-case a city typed all in one case; leave mixed case ("McAllen",
/// "DeKalb") alone, since whoever typed it knew better than a rule.
fn city_case(city: &str) -> String {
    let has_upper = city.chars().any(char::is_uppercase);
    let has_lower = city.chars().any(char::is_lowercase);
    if has_upper && has_lower {
        return city.to_owned();
    }
    let mut out = String::with_capacity(city.len());
    let mut word_len = 0;
    let mut upper_next = true;
    for c in city.chars() {
        if c.is_alphabetic() {
            if upper_next {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            upper_next = false;
            word_len += 1;
        } else {
            // "O'Fallon", "L'Assomption", but "St. John's": after an
            // apostrophe only when it follows a single letter.
            upper_next = matches!(c, ' ' | '-' | '.' | '/') || (c == '\'' && word_len == 1);
            if c != '\'' {
                word_len = 0;
            }
            out.push(c);
        }
    }
    out
}

/// Trim every line and split those wider than `limits.max_len` at the last
/// space that fits; the overflow becomes its own line and pushes the later
/// lines down. Blank lines are dropped.
fn fit_lines(lines: &[&str], limits: LineLimits) -> Result<Vec<String>, AddressError> {
    let mut out = Vec::new();
    // Which input line each output line came from, to name the field to
    // shorten when the lines run out.
    let mut origin = Vec::new();
    let mut first_split = None;
    for (index, raw) in lines.iter().enumerate() {
        let mut rest = collapse_whitespace(raw);
        if rest.is_empty() {
            continue;
        }
        while rest.chars().count() > limits.max_len {
            first_split.get_or_insert(index);
            let (head, tail) = split_at_word(&rest, limits.max_len).ok_or_else(|| {
                AddressError::new(
                    format!("line{}", index + 1),
                    raw,
                    format!(
                        "has a word longer than {} characters, which cannot be split",
                        limits.max_len
                    ),
                )
            })?;
            out.push(head.to_owned());
            origin.push(index);
            rest = tail.to_owned();
        }
        out.push(rest);
        origin.push(index);
    }
    if out.len() > limits.max_lines {
        let index = first_split.unwrap_or(origin[limits.max_lines]);
        return Err(AddressError::new(
            format!("line{}", index + 1),
            lines[index],
            format!(
                "the address needs {} lines of at most {} characters; the target has {}",
                out.len(),
                limits.max_len,
                limits.max_lines
            ),
        ));
    }
    Ok(out)
}

/// Split at the last space within the first `max` characters.
fn split_at_word(text: &str, max: usize) -> Option<(&str, &str)> {
    let limit = text
        .char_indices()
        .nth(max)
        .map_or(text.len(), |(byte, _)| byte);
    // A space right after the limit still leaves a head of `max` characters.
    let window = if text[limit..].starts_with(' ') {
        &text[..=limit]
    } else {
        &text[..limit]
    };
    let space = window.rfind(' ').filter(|&i| i > 0)?;
    Some((&text[..space], &text[space + 1..]))
}

/// Case-, accent- and punctuation-insensitive key: `"U.S.A."` → `usa`,
/// `"Côte d’Ivoire"` → `cote d'ivoire`, `"the Netherlands"` → `netherlands`.
fn lookup_key(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            '.' => {}
            ',' | '-' | '(' | ')' | '_' => folded.push(' '),
            '\u{2019}' | '`' => folded.push('\''),
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => folded.push('a'),
            'ç' => folded.push('c'),
            'è' | 'é' | 'ê' | 'ë' => folded.push('e'),
            'ì' | 'í' | 'î' | 'ï' => folded.push('i'),
            'ñ' => folded.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => folded.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => folded.push('u'),
            'ý' | 'ÿ' => folded.push('y'),
            c => folded.push(c),
        }
    }
    let key = collapse_whitespace(&folded);
    match key.strip_prefix("the ") {
        Some(rest) => rest.to_owned(),
        None => key,
    }
}

#[derive(Deserialize)]
struct CountriesFile {
    countries: Vec<CountryRow>,
}

#[derive(Deserialize)]
struct CountryRow {
    alpha2: String,
    alpha3: String,
    name: String,
    aliases: Vec<String>,
}

#[derive(Deserialize)]
struct SubdivisionsFile {
    subdivisions: HashMap<String, Vec<SubdivisionRow>>,
}

#[derive(Deserialize)]
struct SubdivisionRow {
    code: String,
    name: String,
    aliases: Vec<String>,
}

struct Countries {
    by_key: HashMap<String, &'static str>,
    names: HashMap<&'static str, &'static str>,
}

// The tables live for the whole process, so their strings are leaked once
// rather than cloned into every standardized address.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Index `keys` → `code`; two entries claiming one key is a data error that
/// would make lookups depend on file order, so it stops the load.
fn index_keys<'k>(
    index: &mut HashMap<String, &'static str>,
    code: &'static str,
    keys: impl IntoIterator<Item = &'k str>,
    file: &str,
) {
    for key in keys {
        let key = lookup_key(key);
        if let Some(other) = index.insert(key.clone(), code)
            && other != code
        {
            panic!("{file}: `{key}` names both {other} and {code}");
        }
    }
}

static COUNTRIES: LazyLock<Countries> = LazyLock::new(|| {
    let file: CountriesFile =
        serde_json::from_str(include_str!("../../data/countries.json")).expect("countries.json");
    let mut by_key = HashMap::new();
    let mut names = HashMap::new();
    for row in file.countries {
        let code = leak(row.alpha2);
        names.insert(code, leak(row.name.clone()));
        let keys = [code, row.alpha3.as_str(), row.name.as_str()];
        let aliases = row.aliases.iter().map(String::as_str);
        index_keys(
            &mut by_key,
            code,
            keys.into_iter().chain(aliases),
            "countries.json",
        );
    }
    Countries { by_key, names }
});

static SUBDIVISIONS: LazyLock<HashMap<String, HashMap<String, &'static str>>> =
    LazyLock::new(|| {
        let file: SubdivisionsFile =
            serde_json::from_str(include_str!("../../data/subdivisions.json"))
                .expect("subdivisions.json");
        file.subdivisions
            .into_iter()
            .map(|(country, rows)| {
                let mut index = HashMap::new();
                for row in rows {
                    let code = leak(row.code);
                    let keys = [code, row.name.as_str()];
                    let aliases = row.aliases.iter().map(String::as_str);
                    index_keys(
                        &mut index,
                        code,
                        keys.into_iter().chain(aliases),
                        "subdivisions.json",
                    );
                }
                (country, index)
            })
            .collect()
    });

/// The alpha-2 codes that look themselves up (`US` → `US`; `UK` is an
/// alias of `GB`, so it is not here).
static STANDARD_COUNTRIES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COUNTRIES
        .names
        .keys()
        .copied()
        .filter(|&c| country_code(c) == Some(c))
        .collect()
});

/// Per country, the subdivision codes that look themselves up.
static STANDARD_REGIONS: LazyLock<HashMap<&'static str, HashSet<&'static str>>> =
    LazyLock::new(|| {
        ["US", "CA"]
            .into_iter()
            .map(|c| {
                let codes = SUBDIVISIONS
                    .get(c)
                    .map(|index| {
                        index
                            .values()
                            .copied()
                            .filter(|&code| region_code(c, code) == Some(code))
                            .collect()
                    })
                    .unwrap_or_default();
                (c, codes)
            })
            .collect()
    });

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(lines: &[&'a str], country: &'a str) -> AddressInput<'a> {
        AddressInput {
            lines: lines.to_vec(),
            country: Some(country),
            ..AddressInput::default()
        }
    }

    fn std_ok(a: AddressInput<'_>) -> StandardAddress {
        standardize(&a, LineLimits::INTACCT).expect("standardizes")
    }

    #[test]
    fn country_names_aliases_and_codes_become_alpha2() {
        for text in [
            "United States",
            "USA",
            "U.S.A.",
            "america",
            "US",
            "us",
            " United  States of America ",
        ] {
            assert_eq!(country_code(text), Some("US"), "{text}");
        }
        for text in ["United Kingdom", "UK", "Great Britain", "England", "GBR"] {
            assert_eq!(country_code(text), Some("GB"), "{text}");
        }
        assert_eq!(country_code("Deutschland"), Some("DE"));
        assert_eq!(country_code("DEU"), Some("DE"));
        assert_eq!(country_code("the Netherlands"), Some("NL"));
        assert_eq!(country_code("Côte d’Ivoire"), Some("CI"));
        assert_eq!(country_code("Korea, Republic of"), Some("KR"));
        assert_eq!(country_code("Vietnam"), Some("VN"));
        assert_eq!(country_code("Atlantis"), None);
        assert_eq!(country_name("de"), Some("Germany"));
    }

    #[test]
    fn every_iso_country_is_in_the_table_and_no_alias_is_ambiguous() {
        // Forcing the index runs its duplicate-key check.
        assert_eq!(COUNTRIES.names.len(), 249);
        for (code, name) in &COUNTRIES.names {
            assert_eq!(country_code(name), Some(*code), "{name}");
        }
        assert_eq!(
            SUBDIVISIONS["US"]
                .values()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            57
        );
        assert_eq!(
            SUBDIVISIONS["CA"]
                .values()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            13
        );
    }

    #[test]
    fn us_and_canadian_region_names_become_codes() {
        let a = std_ok(AddressInput {
            region: Some(" new   york "),
            ..input(&[], "USA")
        });
        assert_eq!(a.region.as_deref(), Some("NY"));
        assert_eq!(region_code("US", "Washington, D.C."), Some("DC"));
        assert_eq!(region_code("US", "puerto rico"), Some("PR"));
        assert_eq!(region_code("US", "tx"), Some("TX"));
        assert_eq!(region_code("CA", "Québec"), Some("QC"));
        assert_eq!(region_code("CA", "Quebec"), Some("QC"));
        assert_eq!(region_code("CA", "PEI"), Some("PE"));
        assert_eq!(region_code("US", "Ontario"), None);
    }

    #[test]
    fn an_unknown_region_in_the_us_is_an_error_naming_region_elsewhere_it_passes() {
        let err = standardize(
            &AddressInput {
                region: Some("Ontario"),
                ..input(&[], "US")
            },
            LineLimits::INTACCT,
        )
        .unwrap_err();
        assert_eq!(err.field, "region");
        assert_eq!(err.value, "Ontario");
        let a = std_ok(AddressInput {
            region: Some("  Bavaria "),
            ..input(&[], "Germany")
        });
        assert_eq!(a.region.as_deref(), Some("Bavaria"));
    }

    #[test]
    fn an_unknown_country_is_an_error_naming_country_and_value() {
        let err = standardize(&input(&["1 Main St"], "Narnia"), LineLimits::INTACCT).unwrap_err();
        assert_eq!(err.field, "country");
        assert_eq!(err.value, "Narnia");
        assert!(err.to_string().contains("Narnia"));
    }

    fn postal(country: &str, code: &str) -> Result<Option<String>, AddressError> {
        standardize(
            &AddressInput {
                postal_code: Some(code),
                ..input(&[], country)
            },
            LineLimits::INTACCT,
        )
        .map(|a| a.postal_code)
    }

    #[test]
    fn postal_codes_take_their_national_shape() {
        assert_eq!(postal("US", " 02134 ").unwrap().as_deref(), Some("02134"));
        assert_eq!(
            postal("US", "02134-1234").unwrap().as_deref(),
            Some("02134-1234")
        );
        assert_eq!(
            postal("US", "021341234").unwrap().as_deref(),
            Some("02134-1234")
        );
        assert_eq!(postal("CA", "k1a0b1").unwrap().as_deref(), Some("K1A 0B1"));
        assert_eq!(
            postal("CA", "K1A  0B1").unwrap().as_deref(),
            Some("K1A 0B1")
        );
        assert_eq!(
            postal("GB", "sw1a1aa").unwrap().as_deref(),
            Some("SW1A 1AA")
        );
        assert_eq!(postal("GB", "M1 1AE").unwrap().as_deref(), Some("M1 1AE"));
        assert_eq!(postal("GB", "b338th").unwrap().as_deref(), Some("B33 8TH"));
        assert_eq!(postal("DE", "  10115 ").unwrap().as_deref(), Some("10115"));
        assert_eq!(
            postal("NL", "1012  AB").unwrap().as_deref(),
            Some("1012 AB")
        );
    }

    #[test]
    fn misshapen_postal_codes_are_errors_naming_postal_code() {
        for (country, code) in [
            ("US", "2134"),
            ("US", "ABCDE"),
            ("US", "12345-12"),
            ("US", "1234é6789"),
            ("CA", "12345"),
            ("CA", "D1A 0B1"),
            ("GB", "SW1A"),
            ("GB", "12345"),
        ] {
            let err = postal(country, code).unwrap_err();
            assert_eq!(err.field, "postalCode", "{country} {code}");
            assert_eq!(err.value, code);
        }
    }

    #[test]
    fn cities_are_trimmed_and_title_cased_unless_already_mixed() {
        let city = |c| {
            std_ok(AddressInput {
                city: Some(c),
                ..AddressInput::default()
            })
            .city
            .unwrap()
        };
        assert_eq!(city("  new   york "), "New York");
        assert_eq!(city("WINSTON-SALEM"), "Winston-Salem");
        assert_eq!(city("o'fallon"), "O'Fallon");
        assert_eq!(city("st. john's"), "St. John's");
        assert_eq!(city("McAllen"), "McAllen");
        assert_eq!(city("MONTRÉAL"), "Montréal");
    }

    #[test]
    fn blank_fields_are_absent_and_lines_are_trimmed() {
        let a = std_ok(AddressInput {
            lines: vec!["  12   Main St ", "   "],
            city: Some("  "),
            ..AddressInput::default()
        });
        assert_eq!(a.lines, ["12 Main St"]);
        assert_eq!(a.line(1), Some("12 Main St"));
        assert_eq!(a.line(2), None);
        assert_eq!(a.city, None);
        assert_eq!(a.country, None);
    }

    #[test]
    fn a_long_line_is_split_at_a_word_boundary_into_the_next_line() {
        let long = "Attention Receiving Department, Building 7, 1234 Industrial Parkway";
        assert!(long.len() > 60);
        let a = std_ok(input(&[long], "US"));
        assert_eq!(
            a.lines,
            [
                "Attention Receiving Department, Building 7, 1234 Industrial",
                "Parkway"
            ]
        );
        assert!(a.lines.iter().all(|l| l.chars().count() <= 60));
        let narrow = standardize(
            &input(&[long], "US"),
            LineLimits {
                max_len: 30,
                max_lines: 3,
            },
        )
        .unwrap();
        assert_eq!(
            narrow.lines,
            [
                "Attention Receiving",
                "Department, Building 7, 1234",
                "Industrial Parkway"
            ]
        );
    }

    #[test]
    fn a_split_that_runs_out_of_lines_is_an_error_naming_the_long_line() {
        let long = "Attention Receiving Department, Building 7, 1234 Industrial Parkway";
        let err = standardize(&input(&[long, "Suite 100"], "US"), LineLimits::INTACCT).unwrap_err();
        assert_eq!(err.field, "line1");
        assert_eq!(err.value, long);
        assert!(err.reason.contains("3 lines"), "{}", err.reason);

        let err = standardize(&input(&["a", "b", "c"], "US"), LineLimits::INTACCT).unwrap_err();
        assert_eq!(err.field, "line3");
    }

    #[test]
    fn a_word_wider_than_a_line_is_an_error_not_a_broken_word() {
        let word = "x".repeat(31);
        let err = standardize(&input(&[&word], "US"), LineLimits::SAGE_PRO).unwrap_err();
        assert_eq!(err.field, "line1");
        assert_eq!(err.value, word);
    }

    #[test]
    fn converts_a_clarity_address() {
        let wire = wire::Address {
            line1: Some(" 1 Infinite Loop ".into()),
            city: Some("CUPERTINO".into()),
            region: Some("California".into()),
            postal_code: Some("95014".into()),
            country: Some("United States".into()),
            ..wire::Address::default()
        };
        let a = std_ok(AddressInput::from(&wire));
        assert_eq!(
            a,
            StandardAddress {
                lines: vec!["1 Infinite Loop".into()],
                city: Some("Cupertino".into()),
                region: Some("CA".into()),
                postal_code: Some("95014".into()),
                country: Some("US".into()),
            }
        );
    }

    #[test]
    fn is_standard_only_when_standardize_changes_nothing() {
        let lim = LineLimits::SAGE_PRO;
        // Lines, city, region, postal code, country.
        type Case<'a> = (&'a [&'a str], [Option<&'a str>; 4]);
        let cases: &[Case<'_>] = &[
            (
                &["22 Oak Ave", "Apt 4"],
                [Some("Denver"), Some("CO"), Some("80202"), Some("US")],
            ),
            (
                &["1 Main St"],
                [Some("Toronto"), Some("ON"), Some("K1A 0B1"), Some("CA")],
            ),
            (
                &["10 Downing St"],
                [Some("London"), None, Some("SW1A 2AA"), Some("GB")],
            ),
            (
                &["10 Downing St"],
                [Some("London"), None, Some("GIR 0AA"), Some("GB")],
            ),
            (
                &["Hauptstr. 1"],
                [Some("Berlin"), Some("Berlin"), Some("10115"), Some("DE")],
            ),
            (&[], [None, None, None, None]),
            (
                &["x"],
                [Some("Denver"), Some("CO"), Some("80202-1234"), Some("US")],
            ),
            (
                &[" 22 Oak Ave"],
                [Some("Denver"), Some("CO"), Some("80202"), Some("US")],
            ),
            (
                &["22  Oak Ave"],
                [Some("Denver"), Some("CO"), Some("80202"), Some("US")],
            ),
            (
                &["22 Oak Ave"],
                [Some("DENVER"), Some("CO"), Some("80202"), Some("US")],
            ),
            (
                &["22 Oak Ave"],
                [Some("Denver"), Some("co"), Some("80202"), Some("US")],
            ),
            (
                &["22 Oak Ave"],
                [Some("Denver"), Some("Colorado"), Some("80202"), Some("US")],
            ),
            (
                &["22 Oak Ave"],
                [Some("Denver"), Some("CO"), Some("802021234"), Some("US")],
            ),
            (
                &["22 Oak Ave"],
                [Some("Denver"), Some("CO"), Some("80202"), Some("UK")],
            ),
            (
                &["22 Oak Ave"],
                [Some("Denver"), Some("CO"), Some("80202"), Some("us")],
            ),
            (
                &["1 Main St"],
                [Some("Toronto"), Some("ON"), Some("k1a 0b1"), Some("CA")],
            ),
            (
                &["1 Main St"],
                [Some("Toronto"), Some("ON"), Some("K1A0B1"), Some("CA")],
            ),
            (&["1"], [Some("London"), None, Some("A 9 9AA"), Some("GB")]),
            (&["1"], [Some("London"), None, Some("sw1a 2aa"), Some("GB")]),
            (
                &["a street line that is much longer than thirty chars"],
                [None, None, None, None],
            ),
            (&["one", "two", "three"], [None, None, None, None]),
            (&[""], [None, None, None, None]),
            (
                &["x"],
                [Some("Paris"), Some(" Idf"), Some("75001"), Some("FR")],
            ),
        ];
        let mut standard = 0;
        for &(lines, [city, region, postal_code, country]) in cases {
            if !is_standard(lines, city, region, postal_code, country, lim) {
                continue;
            }
            standard += 1;
            let input = AddressInput {
                lines: lines.to_vec(),
                city,
                region,
                postal_code,
                country,
            };
            let std = standardize(&input, lim).expect("a standard address standardizes");
            assert_eq!(std.lines, lines, "{lines:?}");
            assert_eq!(std.city.as_deref(), city);
            assert_eq!(std.region.as_deref(), region);
            assert_eq!(std.postal_code.as_deref(), postal_code);
            assert_eq!(std.country.as_deref(), country);
        }
        assert_eq!(standard, 7, "the clean cases take the fast path");
    }
}
