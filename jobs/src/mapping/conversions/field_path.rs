//! [`FieldPath`], the paths a conversion names (`lineItems[].sku`): parsed
//! once when the template compiles, then read, written and visited on every
//! record, directly or through an [`Overlay`](super::overlay::Overlay).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::overlay::View;

/// `a.b[].c`: object keys, `[]` after a key meaning every element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldPath {
    pub(super) text: String,
    pub(super) steps: Vec<(String, bool)>,
}

impl FieldPath {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, each) = match part.strip_suffix("[]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            if key.is_empty()
                || key
                    .chars()
                    .any(|c| c.is_whitespace() || "[]()|$\"{}".contains(c))
            {
                return Err(format!(
                    "`{text}` is not a path like `lineItems[].sku` (segment `{part}`)"
                ));
            }
            steps.push((key.to_owned(), each));
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    pub(super) fn has_each(&self) -> bool {
        self.steps.iter().any(|(_, e)| *e)
    }

    /// The keys up to and including the last `[]` (the list the value is in).
    pub(super) fn parent_each(&self) -> Vec<(String, bool)> {
        match self.steps.iter().rposition(|(_, e)| *e) {
            Some(i) => self.steps[..=i].to_vec(),
            None => Vec::new(),
        }
    }

    /// The concrete path for element indexes `at`: `lineItems[1].sku`.
    pub(super) fn render(&self, at: &[usize]) -> String {
        let mut out = String::with_capacity(self.text.len() + 4);
        let mut i = 0;
        for (n, (key, each)) in self.steps.iter().enumerate() {
            if n > 0 {
                out.push('.');
            }
            out.push_str(key);
            if *each {
                match at.get(i) {
                    Some(index) => {
                        let _ = write!(out, "[{index}]");
                    }
                    None => out.push_str("[]"),
                }
                i += 1;
            }
        }
        out
    }

    /// The value at a plain path; absent or null is `None`.
    pub(super) fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut cur = root;
        for (key, _) in &self.steps {
            cur = cur.as_object()?.get(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    pub(super) fn get_mut<'v>(&self, root: &'v mut Value) -> Option<&'v mut Value> {
        let mut cur = root;
        for (key, _) in &self.steps {
            cur = cur.as_object_mut()?.get_mut(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// Write at a plain path, creating objects on the way; a non-object in
    /// the way is left alone.
    pub(super) fn set(&self, root: &mut Value, value: Value) {
        let Some(((last, _), parents)) = self.steps.split_last() else {
            return;
        };
        let mut cur = root;
        for (key, _) in parents {
            let Some(map) = cur.as_object_mut() else {
                return;
            };
            cur = map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
        }
        if let Some(map) = cur.as_object_mut() {
            map.insert(last.clone(), value);
        }
    }

    /// The top-level key the path starts with.
    pub(super) fn first_key(&self) -> &str {
        self.steps.first().map_or("", |(k, _)| k.as_str())
    }

    /// [`Self::get`] through an overlay.
    pub(super) fn get_view<'v>(&self, view: View<'v>) -> Option<&'v Value> {
        let ((first, _), rest) = self.steps.split_first()?;
        let mut cur = view.get(first)?;
        for (key, _) in rest {
            cur = cur.as_object()?.get(key)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// [`Self::visit`] through an overlay.
    pub(super) fn visit_view<'v>(&self, view: View<'v>, f: &mut dyn FnMut(&[usize], &'v Value)) {
        let Some(((first, _), _)) = self.steps.split_first() else {
            return;
        };
        let Some(top) = view.get(first) else {
            return;
        };
        Self::walk_ref(&self.steps, top, &mut Vec::new(), f);
    }

    /// Walk `steps` from `top`, the value of the first step's key.
    fn walk_ref<'v>(
        steps: &[(String, bool)],
        top: &'v Value,
        at: &mut Vec<usize>,
        f: &mut dyn FnMut(&[usize], &'v Value),
    ) {
        fn walk<'v>(
            steps: &[(String, bool)],
            cur: &'v Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &'v Value),
        ) {
            let Some(((key, each), rest)) = steps.split_first() else {
                if !cur.is_null() {
                    f(at, cur);
                }
                return;
            };
            let Some(next) = cur.as_object().and_then(|m| m.get(key)) else {
                return;
            };
            step(*each, rest, next, at, f);
        }
        fn step<'v>(
            each: bool,
            rest: &[(String, bool)],
            next: &'v Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &'v Value),
        ) {
            if each {
                if let Some(items) = next.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        at.push(i);
                        walk(rest, item, at, f);
                        at.pop();
                    }
                }
            } else {
                walk(rest, next, at, f);
            }
        }
        if let Some(((_, each), rest)) = steps.split_first() {
            step(*each, rest, top, at, f);
        }
    }

    pub(super) fn visit_mut(&self, root: &mut Value, f: &mut dyn FnMut(&[usize], &mut Value)) {
        fn walk(
            steps: &[(String, bool)],
            cur: &mut Value,
            at: &mut Vec<usize>,
            f: &mut dyn FnMut(&[usize], &mut Value),
        ) {
            let Some(((key, each), rest)) = steps.split_first() else {
                if !cur.is_null() {
                    f(at, cur);
                }
                return;
            };
            let Some(next) = cur.as_object_mut().and_then(|m| m.get_mut(key)) else {
                return;
            };
            if *each {
                if let Some(items) = next.as_array_mut() {
                    for (i, item) in items.iter_mut().enumerate() {
                        at.push(i);
                        walk(rest, item, at, f);
                        at.pop();
                    }
                }
            } else {
                walk(rest, next, at, f);
            }
        }
        walk(&self.steps, root, &mut Vec::new(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_with_indexes_and_visit_every_element() {
        let p = FieldPath::parse("a[].b[].c").unwrap();
        assert_eq!(p.render(&[1, 2]), "a[1].b[2].c");
        let mut v = json!({"a": [{"b": [{"c": 1}, {"c": null}]}, {"b": [{"c": 2}]}]});
        let mut seen = Vec::new();
        p.visit_mut(&mut v, &mut |at, x| seen.push((at.to_vec(), x.clone())));
        assert_eq!(seen, [(vec![0, 0], json!(1)), (vec![1, 0], json!(2))]);
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[0].b").is_err());
    }
}
