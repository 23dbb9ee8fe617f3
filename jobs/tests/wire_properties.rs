//! Wire formats against the specs' own examples (golden fixtures), and
//! properties that must hold for any input: the Intacct XML readers and the
//! webhook signature parser never panic on hostile bytes, element trees
//! round-trip through XML, signatures verify exactly when they should.
//!
//! Case counts are bounded so CI time stays predictable; raise
//! `PROPTEST_CASES` locally to search longer.

use connect_jobs::connectors::clarity::signature::{self, SignatureError};
use connect_jobs::connectors::intacct::element::Element;
use connect_jobs::connectors::intacct::wire::{Response, Status};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/intacct/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------
// Golden: the spec's examples (sage-intacct.md §3, §5, §6, §7)

#[test]
fn the_specs_session_response_reads_as_a_session() {
    let r = Response::from_xml(&fixture("get_api_session.response.xml")).unwrap();
    assert_eq!(r.control.status, Status::Success);
    let op = r.operation.expect("operation");
    assert_eq!(op.authentication.status, Status::Success);
    assert_eq!(op.authentication.companyid.as_deref(), Some("ACME"));
    let result = &op.result[0];
    assert_eq!(result.function.as_deref(), Some("getAPISession"));
    let api = result
        .data
        .as_ref()
        .and_then(|d| d.api.as_ref())
        .expect("api");
    assert_eq!(api.endpoint, "https://api.intacct.com/ia/xml/xmlgw.phtml");
    assert_eq!(api.sessionid, "sIm-SESSION-0001..");
}

#[test]
fn the_specs_read_by_query_page_carries_its_paging_attributes() {
    let r = Response::from_xml(&fixture("read_by_query_page.response.xml")).unwrap();
    let result = &r.operation.unwrap().result[0];
    assert_eq!(result.status, Status::Success);
    let data = result.data.as_ref().unwrap();
    assert_eq!(data.count, Some(1000));
    assert_eq!(data.totalcount, Some(1450));
    assert_eq!(data.numremaining, Some(450));
    assert_eq!(
        data.result_id.as_deref(),
        Some("7765623332WU1hh8CoA4QAAHxI9i8AAAAA5")
    );
    // The records themselves are open-ended: read through the element tree.
    let tree = Element::parse(&fixture("read_by_query_page.response.xml")).unwrap();
    let item = tree
        .find("operation")
        .and_then(|o| o.find("result"))
        .and_then(|r| r.find("data"))
        .and_then(|d| d.find("item"))
        .unwrap();
    assert_eq!(item.child_text("ITEMID"), Some("SKU-1001"));
    assert_eq!(item.child_text("WHENMODIFIED"), Some("06/01/2024 10:02:11"));
}

#[test]
fn the_specs_customer_keeps_dotted_field_names() {
    let tree = Element::parse(&fixture("read_by_name_customer.response.xml")).unwrap();
    let customer = tree
        .find("operation")
        .and_then(|o| o.find("result"))
        .and_then(|r| r.find("data"))
        .and_then(|d| d.find("CUSTOMER"))
        .unwrap();
    assert_eq!(
        customer.child_text("DISPLAYCONTACT.EMAIL1"),
        Some("jane@example.com")
    );
    assert_eq!(customer.child_text("RECORDNO"), Some("149"));
}

#[test]
fn the_specs_business_failure_carries_every_error() {
    let r = Response::from_xml(&fixture("create_failure.response.xml")).unwrap();
    // A business failure: the request succeeded, the function did not.
    assert_eq!(r.control.status, Status::Success);
    let result = &r.operation.unwrap().result[0];
    assert_eq!(result.status, Status::Failure);
    let em = result.errormessage.as_ref().unwrap();
    assert!(em.has_errno("BL01001973"));
    assert_eq!(em.error.len(), 2);
    let joined = em.joined();
    assert!(joined.contains("Duplicate account number"), "{joined}");
    assert!(joined.contains("Enter unique account number"), "{joined}");
}

#[test]
fn the_specs_request_envelope_is_well_formed() {
    let tree = Element::parse(&fixture("login_request.request.xml")).unwrap();
    assert_eq!(tree.name, "request");
    let control = tree.find("control").unwrap();
    assert_eq!(control.child_text("dtdversion"), Some("3.0"));
    assert_eq!(
        tree.find("operation").unwrap().attr_value("transaction"),
        Some("false")
    );
}

// ---------------------------------------------------------------------------
// Properties

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// XML names as Intacct uses them: letters, digits, `_`, `.`, `-`.
fn xml_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,11}"
}

/// Text with everything that needs escaping, and non-ASCII.
fn xml_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &<>\"'é€/=;:.-]{0,24}".prop_map(|s| s.trim().to_owned())
}

fn element() -> impl Strategy<Value = Element> {
    let leaf = (
        xml_name(),
        xml_text(),
        prop::collection::vec((xml_name(), xml_text()), 0..3),
    )
        .prop_map(|(name, text, attrs)| Element {
            name,
            attrs: dedup(attrs),
            text,
            children: Vec::new(),
        });
    leaf.prop_recursive(4, 40, 6, |inner| {
        (
            xml_name(),
            prop::collection::vec((xml_name(), xml_text()), 0..3),
            prop::collection::vec(inner, 1..6),
        )
            .prop_map(|(name, attrs, children)| Element {
                name,
                attrs: dedup(attrs),
                text: String::new(),
                children,
            })
    })
}

/// XML forbids an attribute twice on one element.
fn dedup(attrs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    attrs
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

/// Byte-level damage to a valid document: truncation, a flipped byte, a
/// duplicated slice.
fn damaged(doc: String) -> impl Strategy<Value = String> {
    let len = doc.len();
    (0..len.max(1), 0..len.max(1), any::<u8>(), 0u8..3).prop_map(move |(a, b, byte, how)| {
        let mut bytes = doc.clone().into_bytes();
        match how {
            0 => bytes.truncate(a),
            1 => {
                if let Some(x) = bytes.get_mut(a) {
                    *x = byte;
                }
            }
            _ => {
                let (lo, hi) = (a.min(b), a.max(b));
                let slice = bytes[lo..hi].to_vec();
                bytes.splice(lo..lo, slice);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn element_trees_round_trip_through_xml(tree in element()) {
        let xml = tree.to_xml();
        let back = Element::parse(&xml).map_err(|e| TestCaseError::fail(format!("{e}: {xml}")))?;
        prop_assert_eq!(back, tree);
    }

    #[test]
    fn the_xml_readers_never_panic_on_arbitrary_text(s in "\\PC{0,300}") {
        let _ = Element::parse(&s);
        let _ = Response::from_xml(&s);
    }

    #[test]
    fn the_xml_readers_never_panic_on_damaged_responses(
        doc in prop_oneof![
            Just(fixture("get_api_session.response.xml")),
            Just(fixture("read_by_query_page.response.xml")),
            Just(fixture("create_failure.response.xml")),
        ].prop_flat_map(damaged)
    ) {
        let _ = Element::parse(&doc);
        let _ = Response::from_xml(&doc);
    }

    #[test]
    fn signature_headers_never_panic_and_garbage_never_verifies(
        header in "[tv0-9=,a-f ]{0,120}|\\PC{0,120}",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let r = signature::verify(&header, &body, &["whsec_test"], 1_700_000_000, 300);
        prop_assert!(r.is_err(), "{header:?} verified");
    }

    #[test]
    fn a_signature_verifies_under_each_active_secret_and_no_other(
        old in "whsec_[a-zA-Z0-9]{8,32}",
        new in "whsec_[a-zA-Z0-9]{8,32}",
        other in "whsec_[a-zA-Z0-9]{8,32}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        t in 1_600_000_000i64..1_900_000_000,
        skew in -300i64..=300,
    ) {
        prop_assume!(other != old && other != new);
        // During a rotation the sender signs with both secrets.
        let header = signature::signature_header(&[&old, &new], t, &body);
        prop_assert_eq!(signature::verify(&header, &body, &[&old], t + skew, 300), Ok(t));
        prop_assert_eq!(signature::verify(&header, &body, &[&new], t + skew, 300), Ok(t));
        prop_assert_eq!(
            signature::verify(&header, &body, &[&other], t + skew, 300),
            Err(SignatureError::Mismatch)
        );
        // One byte more and no secret matches.
        let mut tampered = body.clone();
        tampered.push(b'x');
        prop_assert_eq!(
            signature::verify(&header, &tampered, &[&old, &new], t, 300),
            Err(SignatureError::Mismatch)
        );
        // Outside the tolerance it is refused however good the signature.
        let late = signature::verify(&header, &body, &[&old], t + 301, 300);
        prop_assert!(matches!(late, Err(SignatureError::Expired { .. })), "{:?}", late);
    }
}
