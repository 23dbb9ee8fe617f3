//! Where the conversions work and report: [`Overlay`], a copy-on-write view
//! of the source record that copies only the top-level values a conversion
//! rewrites (so a record most conversions leave alone costs next to
//! nothing), [`View`], the record as the conversions so far left it, and
//! [`Stage`], the issues and flags a conversion reports.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::field_path::FieldPath;
use crate::mapping::paths::ElementPatches;
use crate::mapping::pipeline::Flag;
use crate::mapping::validate::{Rule, ValidationIssue};

/// The record as the conversions so far left it: top-level keys in `over`
/// replace the source's.
#[derive(Clone, Copy)]
pub(super) struct View<'v> {
    pub(super) over: &'v Map<String, Value>,
    pub(super) base: &'v Map<String, Value>,
}

impl<'v> View<'v> {
    pub(super) fn get(&self, key: &str) -> Option<&'v Value> {
        self.over.get(key).or_else(|| self.base.get(key))
    }
}

/// A copy-on-write view of the source: a conversion about to write under a
/// top-level key first copies that key's value (only that one) into
/// `record`, and works on `record` as on a whole record. Keys no conversion
/// writes are never copied.
pub(crate) struct Overlay<'s> {
    pub(crate) base: &'s Map<String, Value>,
    /// Always an object: the copied (and created) top-level keys.
    pub(crate) record: Value,
    /// Keys changed inside elements of arrays `record` did not copy. Only
    /// the SKU conversion, the last, writes them, so [`Self::view`] need
    /// not show them.
    pub(crate) patches: ElementPatches,
}

impl Overlay<'_> {
    pub(super) fn view(&self) -> View<'_> {
        View {
            over: self.over(),
            base: self.base,
        }
    }

    pub(crate) fn over(&self) -> &Map<String, Value> {
        self.record.as_object().expect("the overlay is an object")
    }

    /// Copy the top-level keys the paths start with, unless copied already.
    pub(super) fn ensure<'p>(&mut self, paths: impl IntoIterator<Item = &'p FieldPath>) {
        let over = self
            .record
            .as_object_mut()
            .expect("the overlay is an object");
        for p in paths {
            let key = p.first_key();
            if !over.contains_key(key)
                && let Some(v) = self.base.get(key)
            {
                over.insert(key.to_owned(), v.clone());
            }
        }
    }

    /// The whole record: the source with the overlay's keys in place.
    pub(crate) fn merged(&self) -> Value {
        let mut all = self.base.clone();
        for (k, v) in self.over() {
            all.insert(k.clone(), v.clone());
        }
        self.patches.apply_to(&mut all);
        Value::Object(all)
    }
}

/// Where a stage reports.
pub(crate) struct Stage<'r> {
    pub(crate) record_id: &'r str,
    pub(crate) issues: &'r mut Vec<ValidationIssue>,
    pub(crate) flags: &'r mut Vec<Flag>,
    /// SKUs already reported as unknown, with their candidates.
    pub(crate) unresolved: &'r mut HashSet<String>,
}

impl Stage<'_> {
    pub(super) fn issue(
        &mut self,
        field: String,
        value: Option<Value>,
        rule: Rule,
        message: String,
        suggestion: Option<String>,
    ) {
        self.issues.push(ValidationIssue {
            record: self.record_id.to_owned(),
            field,
            value,
            rule,
            message,
            suggestion,
        });
    }
}
