//! Dot paths: where a rule reads from the source record and where it writes
//! in the output document.
//!
//! A source path is `a.b.c`; a segment made only of digits indexes an array
//! (`lineItems.0.sku`). The empty path (or `.`) is the record itself, which is
//! handy inside `each` rules. A target path is a dot path of object keys.

use serde_json::{Map, Value};
use std::cell::OnceCell;

use super::bounds;

/// A parsed source path, resolved against a record without allocating.
#[derive(Debug, Clone)]
pub(crate) struct SourcePath {
    text: Box<str>,
    segments: Box<[Segment]>,
    /// The slot of its first key in a [`TopKeys`], for a path read at the
    /// top of the record ([`Self::bind_top`]).
    top: Option<u32>,
}

#[derive(Debug, Clone)]
enum Segment {
    Key(Box<str>),
    /// A segment of digits: an array index, or an object key made of digits.
    Index(usize, Box<str>),
}

impl SourcePath {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed == "." {
            return Ok(Self {
                text: ".".into(),
                segments: Box::new([]),
                top: None,
            });
        }
        let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
        bounds::check_path("path", body)?;
        let mut segments = Vec::new();
        for part in body.split('.') {
            if part.is_empty() {
                return Err(format!("path `{text}` has an empty segment"));
            }
            if part
                .chars()
                .any(|c| c.is_whitespace() || "[]()|$\"".contains(c))
            {
                return Err(format!(
                    "path `{text}` is not a plain dot path (segment `{part}`); use `expr` for computed values"
                ));
            }
            segments.push(match part.parse::<usize>() {
                Ok(i) => Segment::Index(i, part.into()),
                Err(_) => Segment::Key(part.into()),
            });
        }
        Ok(Self {
            text: trimmed.into(),
            segments: segments.into(),
            top: None,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The key of a one-segment path (`lineItems`).
    pub(crate) fn single_key(&self) -> Option<&str> {
        match &*self.segments {
            [only] => Some(only.key()),
            _ => None,
        }
    }

    /// True for `.`, the record itself.
    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// [`Self::get`] on an object `root` whose top-level keys in `over`
    /// replace its own. `.` reads `root` as it is.
    pub(crate) fn get_over<'v>(
        &self,
        over: Option<&'v Map<String, Value>>,
        root: &'v Value,
    ) -> Option<&'v Value> {
        let (Some(over), Some((first, rest))) = (over, self.segments.split_first()) else {
            return self.get(root);
        };
        Self::walk(rest, top_value(first.key(), Some(over), root)?)
    }

    /// Read this path's first key through `keys` from now on: paths with
    /// the same first key share a slot, so the record's top level is
    /// searched once per key, not once per rule.
    pub(crate) fn bind_top(&mut self, names: &mut Vec<Box<str>>) {
        let Some(first) = self.segments.first() else {
            return;
        };
        let key = first.key();
        let slot = match names.iter().position(|n| &**n == key) {
            Some(i) => i,
            None => {
                names.push(key.into());
                names.len() - 1
            }
        };
        self.top = u32::try_from(slot).ok();
    }

    /// [`Self::get_over`] with the first key read once per record.
    pub(crate) fn get_top<'v>(&self, keys: &TopKeys<'v>) -> Option<&'v Value> {
        let (Some(slot), Some((first, rest))) = (self.top, self.segments.split_first()) else {
            return self.get_over(keys.over, keys.root);
        };
        let Some(cell) = keys.values.get(slot as usize) else {
            return self.get_over(keys.over, keys.root);
        };
        let top = (*cell.get_or_init(|| top_value(first.key(), keys.over, keys.root)))?;
        Self::walk(rest, top)
    }

    /// The value at this path; `None` when any step is absent or the value is null.
    pub(crate) fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        Self::walk(&self.segments, root)
    }

    fn walk<'v>(segments: &[Segment], root: &'v Value) -> Option<&'v Value> {
        let mut cur = root;
        for seg in segments {
            cur = match (seg, cur) {
                (Segment::Key(k), Value::Object(m)) => m.get(&**k)?,
                (Segment::Index(_, k), Value::Object(m)) => m.get(&**k)?,
                (Segment::Index(i, _), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        (!cur.is_null()).then_some(cur)
    }
}

impl Segment {
    /// The segment as an object key (digits included).
    fn key(&self) -> &str {
        match self {
            Segment::Key(k) | Segment::Index(_, k) => k,
        }
    }
}

/// A top-level value of the object `root`, `over`'s when it has the key.
fn top_value<'v>(
    key: &str,
    over: Option<&'v Map<String, Value>>,
    root: &'v Value,
) -> Option<&'v Value> {
    over.and_then(|o| o.get(key))
        .or_else(|| root.as_object()?.get(key))
}

/// The top-level values of one record (through its overlay) as the paths
/// bound with [`SourcePath::bind_top`] read them, each looked up once.
pub(crate) struct TopKeys<'v> {
    root: &'v Value,
    over: Option<&'v Map<String, Value>>,
    values: Box<[OnceCell<Option<&'v Value>>]>,
}

impl<'v> TopKeys<'v> {
    pub(crate) fn new(root: &'v Value, over: Option<&'v Map<String, Value>>, slots: usize) -> Self {
        Self {
            root,
            over,
            values: (0..slots).map(|_| OnceCell::new()).collect(),
        }
    }
}

/// Keys replaced inside elements of top-level arrays, so that changing one
/// SKU of an order does not copy every line: array key → (element index →
/// the element's replaced keys), indexes ascending.
#[derive(Debug, Default)]
pub(crate) struct ElementPatches {
    arrays: Vec<(String, Vec<Patch>)>,
}

/// An element's index and the keys that replace its own.
pub(crate) type Patch = (usize, Map<String, Value>);

impl ElementPatches {
    pub(crate) fn is_empty(&self) -> bool {
        self.arrays.is_empty()
    }

    /// Replace `key` in element `index` of the top-level array `array`.
    pub(crate) fn set(&mut self, array: &str, index: usize, key: &str, value: Value) {
        let at = match self.arrays.iter().position(|(a, _)| a == array) {
            Some(at) => at,
            None => {
                self.arrays.push((array.to_owned(), Vec::new()));
                self.arrays.len() - 1
            }
        };
        let elements = &mut self.arrays[at].1;
        let slot = match elements.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(slot) => slot,
            Err(slot) => {
                elements.insert(slot, (index, Map::new()));
                slot
            }
        };
        elements[slot].1.insert(key.to_owned(), value);
    }

    /// The patched elements of `array`, by ascending index.
    pub(crate) fn array(&self, array: &str) -> &[Patch] {
        self.arrays
            .iter()
            .find(|(a, _)| a == array)
            .map_or(&[], |(_, e)| e.as_slice())
    }

    /// Write the patches into a whole record.
    pub(crate) fn apply_to(&self, record: &mut Map<String, Value>) {
        for (array, elements) in &self.arrays {
            let Some(items) = record.get_mut(array).and_then(Value::as_array_mut) else {
                continue;
            };
            for (index, keys) in elements {
                if let Some(item) = items.get_mut(*index).and_then(Value::as_object_mut) {
                    for (k, v) in keys {
                        item.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
}

/// A parsed target path: object keys from the output root.
#[derive(Debug, Clone)]
pub(crate) struct TargetPath {
    keys: Box<[Box<str>]>,
}

impl TargetPath {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("target is empty".into());
        }
        bounds::check_path("target", text)?;
        let mut keys = Vec::new();
        for part in text.split('.') {
            if part.is_empty() {
                return Err(format!("target `{text}` has an empty segment"));
            }
            keys.push(part.into());
        }
        Ok(Self { keys: keys.into() })
    }

    pub(crate) fn keys(&self) -> &[Box<str>] {
        &self.keys
    }

    /// True when one path equals or lies inside the other (`a` and `a.b`):
    /// two rules writing them would overwrite each other.
    pub(crate) fn overlaps(&self, other: &Self) -> bool {
        self.keys.iter().zip(other.keys.iter()).all(|(a, b)| a == b)
    }

    /// Write `value` at this path, creating intermediate objects.
    pub(crate) fn set(&self, out: &mut Map<String, Value>, value: Value) {
        let (last, parents) = self.keys.split_last().expect("target has a key");
        let mut cur = out;
        for key in parents {
            // Look up before inserting: most parents exist already, and
            // `entry` would allocate the key every time.
            if !cur.get(&**key).is_some_and(Value::is_object) {
                cur.insert(String::from(&**key), Value::Object(Map::new()));
            }
            cur = cur
                .get_mut(&**key)
                .and_then(Value::as_object_mut)
                .expect("object just ensured");
        }
        // `String::from`, not `to_string`: on a `Box<str>` the latter goes
        // through the formatting machinery, a measurable cost per output key.
        cur.insert(String::from(&**last), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn source_path_reads_nested_keys_and_indexes_and_treats_null_as_absent() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": null}]}});
        assert_eq!(
            SourcePath::parse("a.b.0.c").unwrap().get(&v),
            Some(&json!(1))
        );
        assert_eq!(SourcePath::parse("a.b.1.c").unwrap().get(&v), None);
        assert_eq!(SourcePath::parse("a.x").unwrap().get(&v), None);
        assert_eq!(SourcePath::parse(".").unwrap().get(&v), Some(&v));
        assert!(SourcePath::parse("a..b").is_err());
        assert!(SourcePath::parse(".a | .b").is_err());
    }

    #[test]
    fn target_paths_overlap_when_one_is_a_prefix_of_the_other() {
        let a = TargetPath::parse("shipto").unwrap();
        let b = TargetPath::parse("shipto.contactname").unwrap();
        let c = TargetPath::parse("billto.contactname").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!b.overlaps(&c));
        let mut out = Map::new();
        b.set(&mut out, json!("x"));
        c.set(&mut out, json!("y"));
        assert_eq!(
            Value::Object(out),
            json!({"shipto": {"contactname": "x"}, "billto": {"contactname": "y"}})
        );
    }
}
