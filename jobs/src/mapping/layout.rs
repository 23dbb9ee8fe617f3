//! The output shape of a rule list, worked out when the template compiles.
//!
//! Rules run in their written order (the first failing rule is the one
//! reported), but writing each result into the output object as it comes
//! costs a search and an insert per rule, from the root for every nested
//! target. Instead each rule's result goes to a slot, and the objects are
//! built at the end from entries already in key order: one pass, and the
//! map is bulk-built rather than grown.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use super::paths::TargetPath;

/// The targets of a rule list as a tree of keys in sorted order.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    nodes: Box<[Node]>,
}

#[derive(Debug, Clone)]
enum Node {
    /// The rules (slots) that write this key. Several only when `when`
    /// picks between them; the last one that produced a value wins, as a
    /// later write would.
    Leaf {
        key: Box<str>,
        slots: Box<[usize]>,
    },
    Branch {
        key: Box<str>,
        children: Layout,
    },
}

enum Building {
    Leaf(Vec<usize>),
    Branch(BTreeMap<Box<str>, Building>),
}

impl Layout {
    /// The layout of targets given in slot order; `None` when one target
    /// lies inside another (possible only between `when` alternatives),
    /// which only writing in rule order resolves.
    pub(crate) fn new<'t>(targets: impl IntoIterator<Item = &'t TargetPath>) -> Option<Self> {
        let mut root = BTreeMap::new();
        for (slot, target) in targets.into_iter().enumerate() {
            let (last, parents) = target.keys().split_last()?;
            let mut level = &mut root;
            for key in parents {
                let node = level
                    .entry(key.clone())
                    .or_insert_with(|| Building::Branch(BTreeMap::new()));
                level = match node {
                    Building::Branch(children) => children,
                    Building::Leaf(_) => return None,
                };
            }
            match level
                .entry(last.clone())
                .or_insert_with(|| Building::Leaf(Vec::new()))
            {
                Building::Leaf(slots) => slots.push(slot),
                Building::Branch(_) => return None,
            }
        }
        Some(Self::finish(root))
    }

    fn finish(level: BTreeMap<Box<str>, Building>) -> Self {
        let nodes = level
            .into_iter()
            .map(|(key, node)| match node {
                Building::Leaf(slots) => Node::Leaf {
                    key,
                    slots: slots.into(),
                },
                Building::Branch(children) => Node::Branch {
                    key,
                    children: Self::finish(children),
                },
            })
            .collect();
        Self { nodes }
    }

    /// The object the slots' values make; taken values leave `None`. A
    /// branch none of whose rules produced a value is left out, as it
    /// would never have been created.
    pub(crate) fn build(&self, slots: &mut [Option<Value>]) -> Map<String, Value> {
        // Keys come in order, so collecting bulk-builds the map without a
        // search per key.
        self.nodes
            .iter()
            .filter_map(|node| match node {
                Node::Leaf { key, slots: at } => {
                    let mut value = None;
                    for &i in at.iter() {
                        if let Some(v) = slots[i].take() {
                            value = Some(v);
                        }
                    }
                    value.map(|v| (String::from(&**key), v))
                }
                Node::Branch { key, children } => {
                    let inner = children.build(slots);
                    (!inner.is_empty()).then(|| (String::from(&**key), Value::Object(inner)))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn targets(list: &[&str]) -> Vec<TargetPath> {
        list.iter().map(|t| TargetPath::parse(t).unwrap()).collect()
    }

    /// What writing each value at its target in slot order makes.
    fn written(ts: &[TargetPath], values: &[Option<Value>]) -> Map<String, Value> {
        let mut out = Map::new();
        for (t, v) in ts.iter().zip(values) {
            if let Some(v) = v {
                t.set(&mut out, v.clone());
            }
        }
        out
    }

    #[test]
    fn builds_what_writing_in_rule_order_builds() {
        let ts = targets(&[
            "b.y", "a", "b.x", "c.d.e", "c.d.f", "z",
            "a", // a `when` alternative: the later value wins
        ]);
        let layout = Layout::new(&ts).unwrap();
        let cases = [
            vec![
                Some(json!(1)),
                Some(json!(2)),
                Some(json!(3)),
                Some(json!(4)),
                Some(json!(5)),
                Some(json!(6)),
                Some(json!(7)),
            ],
            vec![
                None,
                Some(json!(2)),
                None,
                None,
                None,
                Some(json!("z")),
                None,
            ],
            vec![None, None, None, None, Some(json!(5)), None, Some(json!(7))],
            vec![None; 7],
        ];
        for values in cases {
            let mut slots = values.clone();
            assert_eq!(layout.build(&mut slots), written(&ts, &values));
        }
        let mut slots = vec![None; 7];
        assert_eq!(Value::Object(layout.build(&mut slots)), json!({}));
    }

    #[test]
    fn a_target_inside_another_has_no_layout() {
        assert!(Layout::new(&targets(&["a", "a.b"])).is_none());
        assert!(Layout::new(&targets(&["a.b", "a"])).is_none());
        assert!(Layout::new(&targets(&["a.b", "a.c", "ab"])).is_some());
    }
}
