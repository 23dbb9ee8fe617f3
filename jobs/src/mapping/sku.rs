//! SKU resolution: which ERP item a source line's SKU stands for.
//!
//! In order of trust: the tenant's exact lookup table (source SKU → ERP item
//! id), then the catalog item whose SKU is the same up to case and
//! whitespace, then a fuzzy match over every catalog item's SKU and name. A
//! fuzzy match at or above the threshold is used but flagged, so the run shows
//! that a guess was made; below it the line cannot be mapped, and the error
//! carries the three closest items as suggested corrections.
//!
//! Normalized forms of the catalog are computed once in [`SkuResolver::new`],
//! so resolving against 10,000 items is one pass of string comparisons.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::similarity::NameForm;

/// An item of the ERP's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub sku: String,
    pub name: String,
}

/// A catalog item proposed for a SKU, with how well it matched in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub sku: String,
    pub name: String,
    pub score: f64,
}

/// How a SKU was resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Found in the lookup table or the catalog, up to case and whitespace.
    Exact { sku: String },
    /// The closest catalog item, at or above the threshold; `flagged` is
    /// always true so that whoever records the run marks the line as guessed.
    Fuzzy {
        sku: String,
        score: f64,
        flagged: bool,
    },
    /// Nothing close enough; the error names the SKU and the candidates.
    Unresolved(UnresolvedSku),
}

impl Resolution {
    /// The ERP SKU to use, or the error with suggested corrections.
    pub fn into_result(self) -> Result<String, UnresolvedSku> {
        match self {
            Resolution::Exact { sku } | Resolution::Fuzzy { sku, .. } => Ok(sku),
            Resolution::Unresolved(error) => Err(error),
        }
    }
}

/// A SKU with no catalog item close enough, and the best ones there are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SKU `{sku}` is not in the ERP catalog and no item scores at least {threshold}; {}", describe(.candidates))]
pub struct UnresolvedSku {
    pub sku: String,
    pub threshold: f64,
    /// At most three, best first.
    pub candidates: Vec<Candidate>,
}

fn describe(candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        return "no similar items".to_string();
    }
    let list: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}` ({}, {:.2})", c.sku, c.name, c.score))
        .collect();
    format!("did you mean {}?", list.join(", "))
}

/// How many candidates an unresolved SKU carries.
const CANDIDATES: usize = 3;

/// When a name is given, the SKU counts for this share of the fuzzy score and
/// the name for the rest: codes are what identify an item, names only confirm.
const SKU_WEIGHT: f64 = 0.6;

/// Resolves SKUs against one tenant's lookup table and ERP catalog.
#[derive(Debug, Clone)]
pub struct SkuResolver {
    table: HashMap<String, String>,
    normalized_table: HashMap<String, String>,
    catalog: Vec<Entry>,
    by_key: HashMap<String, usize>,
    /// Catalog SKU as written → the item `by_key` gives for it.
    by_sku: HashMap<String, usize>,
    threshold: f64,
}

#[derive(Debug, Clone)]
struct Entry {
    item: CatalogItem,
    key: String,
    code: String,
    name: NameForm,
}

impl SkuResolver {
    /// `exact_table` maps source SKUs to ERP SKUs. A fuzzy match is accepted
    /// when its score is at least `threshold`; a threshold above 1 (or NaN)
    /// accepts none.
    pub fn new(
        exact_table: HashMap<String, String>,
        catalog: Vec<CatalogItem>,
        threshold: f64,
    ) -> Self {
        // Sorted so that, of two keys that normalize alike, the same one wins
        // on every start.
        let mut keys: Vec<(&String, &String)> = exact_table.iter().collect();
        keys.sort();
        let mut normalized_table = HashMap::new();
        for (from, to) in keys {
            normalized_table
                .entry(exact_key(from))
                .or_insert_with(|| to.clone());
        }
        let catalog: Vec<Entry> = catalog
            .into_iter()
            .map(|item| Entry {
                key: exact_key(&item.sku),
                code: code_form(&item.sku),
                name: NameForm::new(&item.name),
                item,
            })
            .collect();
        let mut by_key = HashMap::new();
        for (i, entry) in catalog.iter().enumerate() {
            by_key.entry(entry.key.clone()).or_insert(i);
        }
        // Only the item each key resolves to: another item whose SKU is the
        // same up to case resolves to that one, not to itself.
        let by_sku = by_key
            .values()
            .map(|&i| (catalog[i].item.sku.clone(), i))
            .collect();
        Self {
            table: exact_table,
            normalized_table,
            catalog,
            by_key,
            by_sku,
            threshold,
        }
    }

    /// What [`Self::resolve`] answers for `sku` when that is an exact hit
    /// found without normalizing: the lookup table's entry for `sku` as
    /// written, or, with no normalized table entries, the catalog item whose
    /// SKU is `sku` as written. `None` means "ask [`Self::resolve`]", not
    /// "unknown". No allocation.
    pub fn exact_hit(&self, sku: &str) -> Option<&str> {
        if let Some(erp) = self.table.get(sku) {
            return Some(erp);
        }
        if !self.normalized_table.is_empty() {
            return None;
        }
        self.by_sku
            .get(sku)
            .map(|&i| self.catalog[i].item.sku.as_str())
    }

    /// Resolve a source SKU, using the line's product name (when there is
    /// one) to help the fuzzy match.
    pub fn resolve(&self, sku: &str, name: Option<&str>) -> Resolution {
        let key = exact_key(sku);
        let from_table = self
            .table
            .get(sku)
            .or_else(|| self.normalized_table.get(&key));
        if let Some(erp_sku) = from_table {
            return Resolution::Exact {
                sku: erp_sku.clone(),
            };
        }
        if let Some(&i) = self.by_key.get(&key) {
            return Resolution::Exact {
                sku: self.catalog[i].item.sku.clone(),
            };
        }
        let candidates = self.closest(sku, name);
        match candidates.first() {
            Some(best) if best.score >= self.threshold => Resolution::Fuzzy {
                sku: best.sku.clone(),
                score: best.score,
                flagged: true,
            },
            _ => Resolution::Unresolved(UnresolvedSku {
                sku: sku.to_string(),
                threshold: self.threshold,
                candidates,
            }),
        }
    }

    /// The best catalog items for a SKU and name, best first, ties by SKU.
    fn closest(&self, sku: &str, name: Option<&str>) -> Vec<Candidate> {
        let code = code_form(sku);
        let name = name.map(NameForm::new).filter(|n| !n.tokens().is_empty());
        if code.is_empty() && name.is_none() {
            return Vec::new();
        }
        // A running top three rather than a sort of the whole catalog.
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(CANDIDATES + 1);
        for (i, entry) in self.catalog.iter().enumerate() {
            let score = score(&code, name.as_ref(), entry);
            if score <= 0.0 {
                continue;
            }
            let at = best
                .iter()
                .position(|&(s, j)| self.rank(score, i, s, j) == Ordering::Less)
                .unwrap_or(best.len());
            if at < CANDIDATES {
                best.insert(at, (score, i));
                best.truncate(CANDIDATES);
            }
        }
        best.into_iter()
            .map(|(score, i)| Candidate {
                sku: self.catalog[i].item.sku.clone(),
                name: self.catalog[i].item.name.clone(),
                score,
            })
            .collect()
    }

    /// Higher score first, then the smaller SKU, so ties resolve the same way
    /// whatever the catalog order.
    fn rank(&self, score: f64, i: usize, other_score: f64, j: usize) -> Ordering {
        other_score
            .total_cmp(&score)
            .then_with(|| self.catalog[i].item.sku.cmp(&self.catalog[j].item.sku))
    }
}

fn score(code: &str, name: Option<&NameForm>, entry: &Entry) -> f64 {
    let code_score = if code.is_empty() || entry.code.is_empty() {
        0.0
    } else {
        // Jaro-Winkler rewards a shared prefix, edit distance counts typos;
        // together neither a common `SKU-` prefix nor one slip dominates.
        (strsim::jaro_winkler(code, &entry.code)
            + strsim::normalized_damerau_levenshtein(code, &entry.code))
            / 2.0
    };
    match name {
        Some(name) if !entry.name.tokens().is_empty() => {
            let name_score = name.similarity(&entry.name);
            if code.is_empty() {
                name_score
            } else {
                SKU_WEIGHT * code_score + (1.0 - SKU_WEIGHT) * name_score
            }
        }
        _ => code_score,
    }
}

/// The form two SKUs must share to be the same item: no whitespace, one case.
fn exact_key(sku: &str) -> String {
    sku.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The form fuzzy matching compares: letters and digits only, so `SKU-1001`,
/// `sku 1001` and `SKU_1001` look alike.
fn code_form(sku: &str) -> String {
    sku.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, name: &str) -> CatalogItem {
        CatalogItem {
            sku: sku.into(),
            name: name.into(),
        }
    }

    fn catalog() -> Vec<CatalogItem> {
        vec![
            item("WIDGET-BLUE-L", "Widget, blue, large"),
            item("WIDGET-BLUE-M", "Widget, blue, medium"),
            item("WIDGET-RED-L", "Widget, red, large"),
            item("GADGET-100", "Gadget 100"),
            item("SPROCKET-9", "Sprocket nine"),
        ]
    }

    fn resolver(threshold: f64) -> SkuResolver {
        let table = HashMap::from([("CL-77".to_string(), "GADGET-100".to_string())]);
        SkuResolver::new(table, catalog(), threshold)
    }

    #[test]
    fn the_lookup_table_wins_over_an_exact_catalog_match() {
        let table = HashMap::from([("WIDGET-BLUE-L".to_string(), "SPROCKET-9".to_string())]);
        let r = SkuResolver::new(table, catalog(), 0.8);
        assert_eq!(
            r.resolve("WIDGET-BLUE-L", None),
            Resolution::Exact {
                sku: "SPROCKET-9".into()
            }
        );
        assert_eq!(
            r.resolve(" widget-blue-l", None),
            Resolution::Exact {
                sku: "SPROCKET-9".into()
            }
        );
        assert_eq!(
            resolver(0.8).resolve("CL-77", Some("anything")),
            Resolution::Exact {
                sku: "GADGET-100".into()
            }
        );
    }

    #[test]
    fn a_catalog_sku_matches_regardless_of_case_and_whitespace() {
        assert_eq!(
            resolver(0.8).resolve(" gadget-100 ", None),
            Resolution::Exact {
                sku: "GADGET-100".into()
            }
        );
        assert_eq!(
            resolver(0.8).resolve("Widget - Red - L", None),
            Resolution::Exact {
                sku: "WIDGET-RED-L".into()
            }
        );
    }

    #[test]
    fn a_fuzzy_match_above_the_threshold_is_used_and_flagged() {
        let got = resolver(0.85).resolve("WIDGT-BLUE-L", Some("Widget blue large"));
        match got {
            Resolution::Fuzzy {
                sku,
                score,
                flagged,
            } => {
                assert_eq!(sku, "WIDGET-BLUE-L");
                assert!((0.85..1.0).contains(&score), "{score}");
                assert!(flagged);
            }
            other => panic!("expected a fuzzy match, got {other:?}"),
        }
    }

    #[test]
    fn punctuation_differences_are_fuzzy_not_exact() {
        match resolver(0.9).resolve("GADGET100", None) {
            Resolution::Fuzzy { sku, score, .. } => {
                assert_eq!(sku, "GADGET-100");
                assert_eq!(score, 1.0);
            }
            other => panic!("expected a fuzzy match, got {other:?}"),
        }
    }

    #[test]
    fn below_the_threshold_the_error_carries_the_top_three_candidates() {
        let got = resolver(0.95).resolve("WIDGET-BLU", Some("Blue widget"));
        let Resolution::Unresolved(error) = got else {
            panic!("expected unresolved, got {got:?}");
        };
        assert_eq!(error.sku, "WIDGET-BLU");
        let skus: Vec<&str> = error.candidates.iter().map(|c| c.sku.as_str()).collect();
        assert_eq!(skus.len(), 3);
        assert!(skus[..2].contains(&"WIDGET-BLUE-L"), "{skus:?}");
        assert!(skus[..2].contains(&"WIDGET-BLUE-M"), "{skus:?}");
        assert_eq!(skus[2], "WIDGET-RED-L");
        let scores: Vec<f64> = error.candidates.iter().map(|c| c.score).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert!(scores[0] < 0.95);
        let message = error.to_string();
        assert!(message.contains("`WIDGET-BLU`"), "{message}");
        assert!(message.contains("did you mean `WIDGET-BLUE-"), "{message}");
        assert_eq!(
            Resolution::Unresolved(error.clone()).into_result(),
            Err(error)
        );
    }

    #[test]
    fn the_name_breaks_ties_between_similar_codes() {
        let r = resolver(0.0);
        let large = r.resolve("WIDGET-BLUE", Some("Widget blue large"));
        let medium = r.resolve("WIDGET-BLUE", Some("Widget blue medium"));
        assert_eq!(large.into_result().unwrap(), "WIDGET-BLUE-L");
        assert_eq!(medium.into_result().unwrap(), "WIDGET-BLUE-M");
    }

    #[test]
    fn equal_scores_rank_by_sku_whatever_the_catalog_order() {
        let mut items = vec![item("AB-2", "x"), item("AB-1", "x"), item("AB-3", "x")];
        let forward = SkuResolver::new(HashMap::new(), items.clone(), 1.5).resolve("AB-9", None);
        items.reverse();
        let backward = SkuResolver::new(HashMap::new(), items, 1.5).resolve("AB-9", None);
        assert_eq!(forward, backward);
        let Resolution::Unresolved(error) = forward else {
            panic!("threshold above 1 accepts nothing");
        };
        let skus: Vec<&str> = error.candidates.iter().map(|c| c.sku.as_str()).collect();
        assert_eq!(skus, ["AB-1", "AB-2", "AB-3"]);
    }

    #[test]
    fn nothing_to_compare_gives_no_candidates() {
        let got = resolver(0.5).resolve("  ", None);
        assert_eq!(
            got,
            Resolution::Unresolved(UnresolvedSku {
                sku: "  ".into(),
                threshold: 0.5,
                candidates: vec![],
            })
        );
    }

    #[test]
    fn ten_thousand_items_resolve_to_the_right_one() {
        let items: Vec<CatalogItem> = (0..10_000)
            .map(|i| item(&format!("ITEM-{i:05}"), &format!("Part number {i}")))
            .collect();
        let r = SkuResolver::new(HashMap::new(), items, 0.9);
        assert_eq!(
            r.resolve("item-04711", None),
            Resolution::Exact {
                sku: "ITEM-04711".into()
            }
        );
        let got = r.resolve("ITEM04711X", Some("Part number 4711"));
        assert_eq!(got.into_result().unwrap(), "ITEM-04711");
    }
}
