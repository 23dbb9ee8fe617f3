//! A small XML element tree for the parts of the Intacct protocol whose shape is
//! open-ended: generic objects (`<create><CUSTOMER>…</CUSTOMER></create>`), the
//! records inside `<data>`, and the simulator's responses.
//!
//! The typed serde structs in [`super::wire`] cover the fixed shapes; this tree
//! covers the rest. Text-only content is kept (no mixed content: Intacct has none).
//! Element names are kept as written; lookups by name are case-insensitive because
//! Intacct itself is inconsistent about case (`CUSTOMER` vs `class`).

use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::de::DeserializeOwned;

/// One XML element: a name, its attributes, its text and its child elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Unescaped text content; whitespace-only text between child elements is dropped.
    pub text: String,
    pub children: Vec<Element>,
}

/// How deeply elements may nest in a parsed document. The tree is walked
/// recursively afterwards (written out, converted to JSON, dropped), and a
/// document comes from a remote ERP or a simulator client; Intacct's deepest
/// shapes are about ten levels, and a tree converted to JSON must stay within
/// the 128 levels serde_json reads back.
pub const MAX_DEPTH: usize = 64;
/// Elements one parsed document may hold: a 2,000-record page of 100 fields
/// each, with room to spare.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at byte {position}: {message}")]
pub struct ParseError {
    pub position: u64,
    pub message: String,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// An element holding only text.
    pub fn leaf(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// Adds a text child only when there is a value.
    pub fn opt_leaf(mut self, name: &str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.children.push(Element::leaf(name, v));
        }
        self
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// The first child with this name, compared case-insensitively.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Every child with this name, compared case-insensitively.
    pub fn find_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name.eq_ignore_ascii_case(name))
    }

    /// The text of the first child with this name (trimmed), if that child exists.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.find(name).map(|c| c.text.trim())
    }

    /// Like [`Self::child_text`], but an empty value counts as absent.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.child_text(name).filter(|t| !t.is_empty())
    }

    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses one document. Any well-formedness error (unclosed or mismatched
    /// tags, bad entities, text outside the root, a second root) is an error.
    pub fn parse(xml: &str) -> Result<Element, ParseError> {
        let mut reader = Reader::from_str(xml);
        // Mismatched end tags must be an error, never silently accepted.
        reader.config_mut().check_end_names = true;
        reader.config_mut().expand_empty_elements = false;
        let err = |reader: &Reader<&[u8]>, message: String| ParseError {
            position: reader.buffer_position(),
            message,
        };
        // Open elements with their raw (still escaped) text.
        let mut stack: Vec<(Element, String)> = Vec::new();
        let mut root: Option<Element> = None;
        let mut elements = 0usize;
        let mut count = |reader: &Reader<&[u8]>, depth: usize| {
            elements += 1;
            if depth > MAX_DEPTH {
                Err(err(
                    reader,
                    format!("elements nest more than {MAX_DEPTH} levels deep"),
                ))
            } else if elements > MAX_ELEMENTS {
                Err(err(reader, format!("more than {MAX_ELEMENTS} elements")))
            } else {
                Ok(())
            }
        };
        loop {
            let event = reader
                .read_event()
                .map_err(|e| err(&reader, e.to_string()))?;
            match event {
                Event::Start(start) => {
                    if root.is_some() {
                        return Err(err(&reader, "content after the root element".into()));
                    }
                    count(&reader, stack.len() + 1)?;
                    let el = start_element(&start).map_err(|m| err(&reader, m))?;
                    stack.push((el, String::new()));
                }
                Event::Empty(start) => {
                    if root.is_some() {
                        return Err(err(&reader, "content after the root element".into()));
                    }
                    count(&reader, stack.len() + 1)?;
                    let el = start_element(&start).map_err(|m| err(&reader, m))?;
                    match stack.last_mut() {
                        Some((parent, _)) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::End(_) => {
                    let Some((mut el, raw)) = stack.pop() else {
                        return Err(err(&reader, "unexpected closing tag".into()));
                    };
                    let text = quick_xml::escape::unescape(&raw)
                        .map_err(|e| err(&reader, e.to_string()))?;
                    if el.children.is_empty() || !text.trim().is_empty() {
                        el.text = text.into_owned();
                    }
                    match stack.last_mut() {
                        Some((parent, _)) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(text) => match stack.last_mut() {
                    Some((_, raw)) => raw.push_str(&text.xml10_content()),
                    None if text.trim().is_empty() => {}
                    None => return Err(err(&reader, "text outside the root element".into())),
                },
                Event::GeneralRef(r) => match stack.last_mut() {
                    Some((_, raw)) => {
                        raw.push('&');
                        raw.push_str(&r);
                        raw.push(';');
                    }
                    None => return Err(err(&reader, "text outside the root element".into())),
                },
                Event::CData(cdata) => match stack.last_mut() {
                    Some((_, raw)) => raw.push_str(&quick_xml::escape::escape(&*cdata)),
                    None => return Err(err(&reader, "CDATA outside the root element".into())),
                },
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => {
                    return Err(err(&reader, "DOCTYPE is not accepted".into()));
                }
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            return Err(err(&reader, "unclosed element at end of input".into()));
        }
        root.ok_or_else(|| err(&reader, "no root element".into()))
    }

    /// Writes the element as compact XML (no declaration).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_to(&mut out);
        out
    }

    /// Writes the element after an XML declaration: a whole response document.
    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"{}\"", quick_xml::escape::escape(v.as_str()));
        }
        if self.text.is_empty() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&quick_xml::escape::escape(self.text.as_str()));
        for c in &self.children {
            c.write_to(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// Reads this element into one of the typed wire structs.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, quick_xml::DeError> {
        quick_xml::de::from_str(&self.to_xml())
    }

    /// The element as JSON: text-only elements become strings, elements with
    /// children become objects, and repeated child names become arrays. This is
    /// how the simulator stores generic records.
    pub fn to_json(&self) -> serde_json::Value {
        if self.children.is_empty() {
            return serde_json::Value::String(self.text.trim().to_owned());
        }
        let mut map = serde_json::Map::new();
        for c in &self.children {
            let v = c.to_json();
            match map.get_mut(&c.name) {
                None => {
                    map.insert(c.name.clone(), v);
                }
                // `to_json` never yields an array for one element, so an array
                // here is the one built for this repeated name.
                Some(serde_json::Value::Array(items)) => items.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = serde_json::Value::Array(vec![first, v]);
                }
            }
        }
        serde_json::Value::Object(map)
    }

    /// The reverse of [`Self::to_json`]: objects become child elements, arrays
    /// become repeated elements with the key's name, scalars become text.
    pub fn from_json(name: &str, value: &serde_json::Value) -> Element {
        let mut el = Element::new(name);
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::Array(items) => {
                            for item in items {
                                el.children.push(Element::from_json(k, item));
                            }
                        }
                        other => el.children.push(Element::from_json(k, other)),
                    }
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => el.text = s.clone(),
            serde_json::Value::Bool(b) => el.text = b.to_string(),
            serde_json::Value::Number(n) => el.text = n.to_string(),
            serde_json::Value::Array(items) => {
                // A bare array has no key to name its items; use the parent's name.
                for item in items {
                    el.children.push(Element::from_json(name, item));
                }
            }
        }
        el
    }
}

fn start_element(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element::new(start.name().as_ref());
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let value = quick_xml::escape::unescape(&attr.value).map_err(|e| e.to_string())?;
        el.attrs
            .push((attr.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_attributes_and_entities() {
        let el = Element::parse(
            "<?xml version=\"1.0\"?>\n<a x=\"1 &amp; 2\"><b>Jane&apos;s &amp; Co &lt;3</b>\n  <c/><![CDATA[ignored? no]]></a>",
        )
        .unwrap();
        assert_eq!(el.name, "a");
        assert_eq!(el.attr_value("X"), Some("1 & 2"));
        assert_eq!(el.child_text("B"), Some("Jane's & Co <3"));
        assert_eq!(el.find("c").unwrap().text, "");
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            "<a><b></a>",
            "<a>",
            "",
            "<a></a><b/>",
            "just text",
            "<a>&bogus;</a>",
            "<a></b>",
        ] {
            assert!(Element::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn writes_what_it_parses() {
        let el = Element::new("r")
            .attr("k", "a\"b")
            .child(Element::leaf("t", "x < y & z"))
            .child(Element::new("empty"));
        let xml = el.to_xml();
        assert_eq!(xml, "<r k=\"a&quot;b\"><t>x &lt; y &amp; z</t><empty/></r>");
        assert_eq!(Element::parse(&xml).unwrap(), el);
    }

    #[test]
    fn json_round_trip_keeps_repeated_children_as_arrays() {
        let el = Element::parse(
            "<GLBATCH><JOURNAL>GJ</JOURNAL><ENTRIES><GLENTRY><ACCOUNTNO>1010</ACCOUNTNO></GLENTRY>\
             <GLENTRY><ACCOUNTNO>1200</ACCOUNTNO></GLENTRY><GLENTRY><ACCOUNTNO>4000</ACCOUNTNO></GLENTRY></ENTRIES></GLBATCH>",
        )
        .unwrap();
        let json = el.to_json();
        assert_eq!(json["ENTRIES"]["GLENTRY"][2]["ACCOUNTNO"], "4000");
        // serde_json orders keys, so compare after a second round.
        let back = Element::from_json("GLBATCH", &json);
        assert_eq!(back.find("ENTRIES"), el.find("ENTRIES"));
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn deep_or_huge_documents_are_refused_not_overflowed() {
        let nested = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        let err = Element::parse(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.message, "elements nest more than 64 levels deep");
        // Far deeper than a recursive drop or `to_xml` could take on a
        // worker's stack: refused while reading, before a tree exists.
        let err = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || Element::parse(&nested(1_000_000)).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(err.message, "elements nest more than 64 levels deep");
        let el = Element::parse(&nested(MAX_DEPTH)).unwrap();
        assert_eq!(Element::parse(&el.to_xml()).unwrap(), el);
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        let err = Element::parse(&wide).unwrap_err();
        assert_eq!(err.message, "more than 1000000 elements");
    }
}
