//! How alike two field names are, as a score in [0, 1].
//!
//! Source systems and ERPs spell the same field differently: `postalCode`,
//! `postal_code`, `ShipTo.Zip`, `zipcode`. A name is split into lowercase
//! tokens (at camelCase humps, letter/digit changes, `_`, `.`, `-`, `[]` and
//! spaces), common abbreviations are replaced by the word they stand for, and
//! two names are compared both token by token (so word order and extra words
//! cost little) and as whole strings with Jaro-Winkler (so typos cost little).
//! ERPs often fuse words without any separator (`customerponumber`); a token
//! of one name found inside the other fused name counts as a match, which is
//! what keeps such names comparable without a dictionary.
//!
//! Everything here is plain arithmetic over the inputs: the same names always
//! give the same score.
//!
//! [`closest_match`] answers the other question the engine asks about names:
//! which of a set of known ids or field paths a mistyped one was meant to be
//! ("did you mean `customerid`?").

/// Abbreviations and spellings replaced by the tokens they stand for.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("qty", &["quantity"]),
    ("amt", &["amount"]),
    ("addr", &["address"]),
    ("zip", &["postal", "code"]),
    ("zipcode", &["postal", "code"]),
    ("postcode", &["postal", "code"]),
    ("postalcode", &["postal", "code"]),
    ("desc", &["description"]),
    ("descr", &["description"]),
    ("num", &["number"]),
    ("nbr", &["number"]),
    ("no", &["number"]),
    ("cust", &["customer"]),
    ("ccy", &["currency"]),
    ("curr", &["currency"]),
    ("dt", &["date"]),
    ("tel", &["phone"]),
    ("telephone", &["phone"]),
    ("mail", &["email"]),
    ("e", &["email"]),
    // In ERP vocabulary a SKU is an item id (Intacct ITEMID, Sage Pro ItemCode).
    ("sku", &["item", "id"]),
];

/// Words that say nothing about what a field holds (`shipTo`, `dateOfBirth`).
const STOP_WORDS: &[&str] = &["to", "of", "the", "a", "an"];

/// Tokens at least this similar (Jaro-Winkler) count as the same word, so
/// `ship` matches `shipping` and `adress` matches `address`.
const TOKEN_MATCH: f64 = 0.88;

/// A fused-name match needs a token this long, so `id` is not found in `paid`.
const MIN_FUSED_TOKEN: usize = 3;

/// Share of the score that comes from the token comparison; the rest is the
/// Jaro-Winkler similarity of the names with their separators removed.
const TOKEN_WEIGHT: f64 = 0.65;

/// A name split and normalized once, for comparing with many others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameForm {
    tokens: Vec<String>,
    joined: String,
}

impl NameForm {
    pub fn new(name: &str) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for raw in split_words(name) {
            let lower = raw.to_lowercase();
            if STOP_WORDS.contains(&lower.as_str()) {
                continue;
            }
            let expanded: Vec<String> = match SYNONYMS.iter().find(|(abbr, _)| *abbr == lower) {
                Some((_, words)) => words.iter().map(|w| (*w).to_string()).collect(),
                None => vec![lower],
            };
            for token in expanded {
                // `zipCode` expands to `postal code code`; one `code` is enough.
                if !tokens.contains(&token) {
                    tokens.push(token);
                }
            }
        }
        let joined = tokens.concat();
        Self { tokens, joined }
    }

    /// The normalized tokens, in the order they appear in the name.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Similarity in [0, 1]: 1 for names with the same tokens in the same
    /// order, 0 when either name has no tokens.
    pub fn similarity(&self, other: &NameForm) -> f64 {
        if self.joined.is_empty() || other.joined.is_empty() {
            return 0.0;
        }
        if self.joined == other.joined {
            return 1.0;
        }
        let overlap = (coverage(self, other) + coverage(other, self)) / 2.0;
        let whole = strsim::jaro_winkler(&self.joined, &other.joined);
        (TOKEN_WEIGHT * overlap + (1.0 - TOKEN_WEIGHT) * whole).clamp(0.0, 1.0)
    }
}

/// Similarity of two names in [0, 1]; see [`NameForm::similarity`].
pub fn name_similarity(a: &str, b: &str) -> f64 {
    NameForm::new(a).similarity(&NameForm::new(b))
}

/// Similarity of two dot paths (`shippingAddress.postalCode`,
/// `lineItems[].sku`): the last segments matter most, since that is the field
/// itself, and the whole paths tell `shipping` from `billing`.
pub fn path_similarity(a: &str, b: &str) -> f64 {
    PathForm::new(a).similarity(&PathForm::new(b))
}

/// A dot path normalized once: its last segment and the whole path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathForm {
    leaf: NameForm,
    whole: NameForm,
}

/// Share of a path score that comes from the last segments.
const LEAF_WEIGHT: f64 = 0.6;

impl PathForm {
    pub fn new(path: &str) -> Self {
        let leaf = path.rsplit('.').next().unwrap_or(path);
        Self {
            leaf: NameForm::new(leaf),
            whole: NameForm::new(path),
        }
    }

    pub fn similarity(&self, other: &PathForm) -> f64 {
        LEAF_WEIGHT * self.leaf.similarity(&other.leaf)
            + (1.0 - LEAF_WEIGHT) * self.whole.similarity(&other.whole)
    }
}

/// Largest share of the longer string that may differ (in edits) for a
/// candidate to still count as a likely typo.
const TYPO_SHARE: (usize, usize) = (2, 5);

/// The candidate most like `wanted`, ignoring case, if it is alike enough to
/// be a likely typo: at most 40 % of the longer string differs (Levenshtein).
/// Ties go to the alphabetically first, so suggestions are stable.
pub fn closest_match<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    wanted: &str,
) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let wanted_len = wanted_lower.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let distance = strsim::levenshtein(&lower, &wanted_lower);
        let longest = lower.chars().count().max(wanted_len);
        if longest == 0 || distance * TYPO_SHARE.1 > longest * TYPO_SHARE.0 {
            continue;
        }
        if best.is_none_or(|(d, c)| distance < d || (distance == d && candidate < c)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Share of `a`'s tokens that have a match in `b`, each weighted by how good
/// the best match is.
fn coverage(a: &NameForm, b: &NameForm) -> f64 {
    let total: f64 = a.tokens.iter().map(|t| best_match(t, b)).sum();
    total / a.tokens.len() as f64
}

fn best_match(token: &str, other: &NameForm) -> f64 {
    let stem = stem(token);
    // This word appears inside the other's fused name (`ship` in `shipto`).
    if stem.len() >= MIN_FUSED_TOKEN && other.joined.contains(stem) {
        return 1.0;
    }
    let similar = other
        .tokens
        .iter()
        .map(|u| {
            if u == token {
                1.0
            } else {
                strsim::jaro_winkler(token, u)
            }
        })
        .filter(|s| *s >= TOKEN_MATCH)
        .fold(0.0, f64::max);
    similar.max(fused_cover(token, other))
}

/// Share of the characters of a fused word (`datecreated`) made of the other
/// name's words (`created`, `date`).
fn fused_cover(token: &str, other: &NameForm) -> f64 {
    let mut covered = vec![false; token.len()];
    for word in &other.tokens {
        for part in [word.as_str(), stem(word)] {
            if part.len() < MIN_FUSED_TOKEN || part.len() >= token.len() {
                continue;
            }
            for (at, _) in token.match_indices(part) {
                covered[at..at + part.len()].fill(true);
            }
        }
    }
    covered.iter().filter(|c| **c).count() as f64 / token.len() as f64
}

/// A crude English stem, enough for a word to be found inside a fused name
/// spelled with another inflection: `shipping` → `ship`, `created` →
/// `creat`, `items` → `item`, `addresses` → `address`.
fn stem(word: &str) -> &str {
    let strip = |suffix: &str| {
        word.strip_suffix(suffix)
            .filter(|base| base.len() >= MIN_FUSED_TOKEN)
    };
    if let Some(base) = strip("ing").or_else(|| strip("ed")) {
        // `shipp` → `ship`, but `bill`, `pass` and `buzz` keep their pair.
        let bytes = base.as_bytes();
        let n = bytes.len();
        if n >= 4 && bytes[n - 1] == bytes[n - 2] && !b"aeioulsz".contains(&bytes[n - 1]) {
            return &base[..n - 1];
        }
        return base;
    }
    if let Some(base) =
        strip("es").filter(|b| ["s", "x", "ch", "sh"].iter().any(|e| b.ends_with(e)))
    {
        return base;
    }
    match strip("s") {
        Some(base) if !base.ends_with('s') => base,
        _ => word,
    }
}

/// Split a name into words at separators, camelCase humps (`postalCode`,
/// `HTTPServer` → `HTTP Server`) and letter/digit changes (`line1`).
fn split_words(name: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for part in name.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<(usize, char)> = part.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let prev = chars[i - 1].1;
            let next_is_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
            let hump = prev.is_lowercase() && c.is_uppercase();
            let acronym_end = prev.is_uppercase() && c.is_uppercase() && next_is_lower;
            let digit_change = prev.is_ascii_digit() != c.is_ascii_digit();
            if hump || acronym_end || digit_change {
                words.push(&part[start..at]);
                start = at;
            }
        }
        if start < part.len() {
            words.push(&part[start..]);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(name: &str) -> Vec<String> {
        NameForm::new(name).tokens().to_vec()
    }

    #[test]
    fn camel_case_snake_case_dots_and_digits_split_into_lowercase_tokens() {
        assert_eq!(
            tokens("shippingAddress.postalCode"),
            ["shipping", "address", "postal", "code"]
        );
        assert_eq!(tokens("unit_price"), ["unit", "price"]);
        assert_eq!(tokens("HTTPServerName"), ["http", "server", "name"]);
        assert_eq!(tokens("lineItems[].sku"), ["line", "items", "item", "id"]);
        assert_eq!(tokens("address-line1"), ["address", "line", "1"]);
        assert_eq!(tokens("ShipTo"), ["ship"]);
    }

    #[test]
    fn abbreviations_become_the_words_they_stand_for() {
        assert_eq!(tokens("qty"), ["quantity"]);
        assert_eq!(tokens("TotalAmt"), ["total", "amount"]);
        assert_eq!(tokens("billAddr"), ["bill", "address"]);
        assert_eq!(tokens("zipCode"), ["postal", "code"]);
        assert_eq!(name_similarity("qty", "quantity"), 1.0);
        assert_eq!(name_similarity("Zip", "postalCode"), 1.0);
        assert_eq!(name_similarity("amt", "amount"), 1.0);
        assert_eq!(name_similarity("ADDR", "address"), 1.0);
    }

    #[test]
    fn spelling_and_case_conventions_do_not_matter() {
        assert_eq!(name_similarity("postalCode", "postal_code"), 1.0);
        assert_eq!(name_similarity("customerId", "CUSTOMER.ID"), 1.0);
        assert_eq!(name_similarity("customerid", "customerId"), 1.0);
    }

    #[test]
    fn related_names_score_above_unrelated_ones() {
        let related = name_similarity("unitPrice", "price");
        let unrelated = name_similarity("unitPrice", "customerId");
        assert!(related > 0.6, "{related}");
        assert!(unrelated < 0.5, "{unrelated}");
        assert!(name_similarity("adress", "address") > 0.9);
    }

    #[test]
    fn fused_erp_names_match_their_split_source_names() {
        let fused = name_similarity("customerponumber", "customerPoNumber");
        assert_eq!(fused, 1.0);
        let created = name_similarity("datecreated", "createdDate");
        let updated = name_similarity("datecreated", "updatedDate");
        assert!(created > updated, "{created} vs {updated}");
        assert!(created > 0.8, "{created}");
    }

    #[test]
    fn inflected_words_are_found_inside_fused_names() {
        assert_eq!(stem("shipping"), "ship");
        assert_eq!(stem("billing"), "bill");
        assert_eq!(stem("items"), "item");
        assert_eq!(stem("addresses"), "address");
        assert_eq!(stem("address"), "address");
        let ship = name_similarity("shipto", "shippingAddress");
        let bill = name_similarity("shipto", "billingAddress");
        assert!(ship > bill + 0.2, "{ship} vs {bill}");
    }

    #[test]
    fn path_similarity_tells_shipping_from_billing() {
        let ship = path_similarity("shipto.zip", "shippingAddress.postalCode");
        let bill = path_similarity("shipto.zip", "billingAddress.postalCode");
        assert!(ship > bill, "{ship} vs {bill}");
        assert!(ship > 0.8, "{ship}");
    }

    #[test]
    fn scores_stay_in_range_and_empty_names_score_zero() {
        assert_eq!(name_similarity("", "sku"), 0.0);
        assert_eq!(name_similarity("...", "sku"), 0.0);
        for (a, b) in [("a", "b"), ("x1", "x2"), ("orderId", "lineItems[].sku")] {
            let s = name_similarity(a, b);
            assert!((0.0..=1.0).contains(&s), "{a} {b} {s}");
        }
    }

    #[test]
    fn closest_match_prefers_small_edits_and_gives_up_on_unrelated_text() {
        let ids = ["SKU-1001", "SKU-2002", "WIDGET"];
        assert_eq!(closest_match(ids, "sku-1001"), Some("SKU-1001"));
        assert_eq!(closest_match(ids, "SKU-1010"), Some("SKU-1001"));
        assert_eq!(closest_match(ids, "WIDGETS"), Some("WIDGET"));
        assert_eq!(closest_match(ids, "GIFT-WRAP"), None);
        assert_eq!(closest_match([], "x"), None);
        // Equally close candidates: the alphabetically first wins.
        assert_eq!(closest_match(["ab1", "aa1"], "ac1"), Some("aa1"));
    }

    #[test]
    fn similarity_is_symmetric() {
        for (a, b) in [
            ("shippingAddress.postalCode", "ShipToZip"),
            ("datecreated", "orderDate"),
            ("unitPrice", "price"),
        ] {
            assert_eq!(name_similarity(a, b), name_similarity(b, a), "{a} {b}");
        }
    }
}
