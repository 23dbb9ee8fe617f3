//! Contract tests of the simulators' raw answers against the literal shapes
//! and examples in `shared/specs/` (Clarity, Sage Intacct, Sage Pro).
//!
//! The other contract suites drive the connectors against the simulators, so
//! a misreading of the spec shared by both sides passes there. These tests read
//! the bytes on the wire with nothing but `serde_json::Value`, a small XML tree
//! of their own, and an HMAC computed here from the spec's formula; none of
//! the connectors' or the simulators' types is involved. A simulator that
//! drifts from the spec fails here; a connector that drifts fails against a
//! simulator that no longer shares its mistake.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::HeaderMap;
use common::{TestApp, spawn_app};
use connect::sandbox::SandboxCredentials;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One app with a sandbox pair wired to the built-in simulators.
struct Sandbox {
    app: TestApp,
    pair: String,
    creds: SandboxCredentials,
}

async fn sandbox(erp: &str) -> Sandbox {
    let app = spawn_app().await;
    let token = app.tenant("Wire Co").await;
    let pair = app.sandbox_pair(&token, erp).await;
    let creds = SandboxCredentials::load(&app.state.db, &pair)
        .await
        .expect("read the credentials")
        .expect("a sandbox pair has simulator credentials");
    Sandbox { app, pair, creds }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// `2024-06-01T10:00:00Z`, with optional fractional seconds: RFC 3339 in UTC.
fn is_rfc3339_utc(s: &str) -> bool {
    s.ends_with('Z')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// A decimal string with exactly two places: `"19.99"`, `"0.00"`.
fn is_money_string(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let (whole, cents) = s
            .trim_start_matches('-')
            .split_once('.')
            .unwrap_or(("", ""));
        !whole.is_empty()
            && whole.chars().all(|c| c.is_ascii_digit())
            && cents.len() == 2
            && cents.chars().all(|c| c.is_ascii_digit())
    })
}

fn cents(v: &Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("money is a string: {v}"));
    let negative = s.starts_with('-');
    let (whole, frac) = s
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or_else(|| panic!("money has two places: {s}"));
    let c = whole.parse::<i64>().expect("digits") * 100 + frac.parse::<i64>().expect("digits");
    if negative { -c } else { c }
}

// ---------------------------------------------------------------------------
// Clarity (shared/specs/clarity.md)
// ---------------------------------------------------------------------------

impl Sandbox {
    fn clarity(&self, path: &str) -> String {
        self.app
            .url(&format!("/sandbox/clarity/{}{path}", self.pair))
    }

    /// `POST /oauth/token` with HTTP Basic, as §1's example does; the raw answer.
    async fn clarity_token_response(&self) -> (u16, Value) {
        let resp = self
            .app
            .client
            .post(self.clarity("/oauth/token"))
            .basic_auth(
                &self.creds.clarity_client_id,
                Some(&self.creds.clarity_client_secret),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON token answer"))
    }

    async fn clarity_token(&self) -> String {
        let (status, body) = self.clarity_token_response().await;
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Places `count` orders as a shopper (§8, `POST /__sim/orders`).
    async fn place_orders(&self, count: u32) -> Vec<String> {
        let resp = self
            .app
            .client
            .post(self.clarity("/__sim/orders"))
            .basic_auth(
                &self.creds.clarity_client_id,
                Some(&self.creds.clarity_client_secret),
            )
            .json(&json!({"count": count}))
            .send()
            .await
            .expect("place orders");
        assert_eq!(resp.status().as_u16(), 201);
        let body: Value = resp.json().await.expect("JSON");
        body["orderIds"]
            .as_array()
            .expect("orderIds")
            .iter()
            .map(|v| v.as_str().expect("an id").to_owned())
            .collect()
    }

    async fn clarity_get(&self, token: &str, path: &str) -> (u16, HeaderMap, Value) {
        let resp = self
            .app
            .client
            .get(self.clarity(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {bytes:?}"));
        (status, headers, body)
    }
}

#[tokio::test]
async fn clarity_token_answer_is_rfc_6749_with_a_bearer_token_for_3600_seconds() {
    let s = sandbox("intacct").await;
    let (status, body) = s.clarity_token_response().await;
    assert_eq!(status, 200, "{body}");
    assert!(
        keys(&body).is_superset(&set(&["access_token", "token_type", "expires_in", "scope"])),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    // No scope asked for: every scope of §1 is granted, space-separated.
    let granted: BTreeSet<&str> = body["scope"].as_str().expect("scope").split(' ').collect();
    for scope in [
        "orders:read",
        "orders:write",
        "products:read",
        "products:write",
        "customers:read",
        "customers:write",
        "inventory:read",
        "inventory:write",
        "shipments:write",
        "returns:read",
        "returns:write",
        "coupons:read",
        "webhooks:manage",
    ] {
        assert!(granted.contains(scope), "{scope} missing from {granted:?}");
    }
    s.app.stop().await;
}

#[tokio::test]
async fn clarity_lists_answer_the_spec_envelope_with_zero_based_pages() {
    let s = sandbox("intacct").await;
    let token = s.clarity_token().await;
    s.place_orders(3).await;
    let (status, _, first) = s
        .clarity_get(&token, "/api/v1/orders?pageSize=2&pageIndex=0")
        .await;
    assert_eq!(status, 200, "{first}");
    // §2: exactly these five names.
    assert_eq!(
        keys(&first),
        set(&["results", "pageIndex", "pageSize", "totalCount", "hasMore"])
    );
    assert_eq!(first["pageIndex"], 0);
    assert_eq!(first["pageSize"], 2);
    let total = first["totalCount"]
        .as_u64()
        .expect("totalCount is a number");
    assert!(total >= 3, "{first}");
    assert_eq!(first["results"].as_array().expect("results").len(), 2);
    assert_eq!(first["hasMore"], true);
    let last_index = (total - 1) / 2;
    let (_, _, last) = s
        .clarity_get(
            &token,
            &format!("/api/v1/orders?pageSize=2&pageIndex={last_index}"),
        )
        .await;
    assert_eq!(last["pageIndex"], last_index);
    assert_eq!(last["hasMore"], false, "{last}");
    s.app.stop().await;
}

#[tokio::test]
async fn a_clarity_order_has_the_fields_formats_and_totals_of_spec_3_1() {
    let s = sandbox("intacct").await;
    let token = s.clarity_token().await;
    let ids = s.place_orders(5).await;
    for id in &ids {
        let (status, headers, o) = s.clarity_get(&token, &format!("/api/v1/orders/{id}")).await;
        assert_eq!(status, 200, "{o}");
        // §1: single-resource GETs carry `ETag: "<version>"`.
        let etag = headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag");
        assert_eq!(etag, format!("\"{}\"", o["version"]), "{o}");
        let fields = keys(&o);
        for name in [
            "orderId",
            "customerId",
            "orderDate",
            "status",
            "totalAmount",
            "currency",
            "shippingAddress",
            "billingAddress",
            "lineItems",
            "paymentInfo",
            "couponCode",
            "subtotalAmount",
            "discountAmount",
            "shippingAmount",
            "taxAmount",
            "erpReferences",
            "version",
            "createdDate",
            "updatedDate",
        ] {
            assert!(fields.contains(name), "{name} missing: {o}");
        }
        assert_eq!(o["orderId"], id.as_str());
        assert!(o["couponCode"].is_null() || o["couponCode"].is_string());
        assert!(o["erpReferences"].is_object());
        assert!(o["version"].is_i64());
        for t in ["orderDate", "createdDate", "updatedDate"] {
            assert!(is_rfc3339_utc(o[t].as_str().unwrap_or("")), "{t}: {o}");
        }
        assert!(
            [
                "pending",
                "processing",
                "on_hold",
                "partially_shipped",
                "shipped",
                "completed",
                "cancelled",
                "refunded"
            ]
            .contains(&o["status"].as_str().unwrap_or("")),
            "{o}"
        );
        let money = [
            "subtotalAmount",
            "discountAmount",
            "shippingAmount",
            "taxAmount",
            "totalAmount",
        ];
        for m in money {
            assert!(
                is_money_string(&o[m]),
                "{m} is not a two-place decimal string: {o}"
            );
        }
        assert_eq!(
            cents(&o["totalAmount"]),
            cents(&o["subtotalAmount"]) - cents(&o["discountAmount"])
                + cents(&o["shippingAmount"])
                + cents(&o["taxAmount"]),
            "totalAmount identity: {o}"
        );
        let lines = o["lineItems"].as_array().expect("lineItems");
        assert!(!lines.is_empty());
        for l in lines {
            for name in [
                "lineId",
                "sku",
                "quantity",
                "unitPrice",
                "tax",
                "discount",
                "lineTotal",
            ] {
                assert!(l.get(name).is_some(), "{name} missing: {l}");
            }
            assert!(l["quantity"].is_number(), "quantity is a JSON number: {l}");
            for m in ["unitPrice", "tax", "discount", "lineTotal"] {
                assert!(is_money_string(&l[m]), "{m}: {l}");
            }
            let qty = l["quantity"].as_i64().expect("the shop sells whole units");
            assert_eq!(
                cents(&l["lineTotal"]),
                qty * cents(&l["unitPrice"]) - cents(&l["discount"]),
                "lineTotal = quantity*unitPrice - discount: {l}"
            );
        }
        for a in ["shippingAddress", "billingAddress"] {
            let allowed = set(&[
                "firstName",
                "lastName",
                "company",
                "line1",
                "line2",
                "city",
                "region",
                "postalCode",
                "country",
                "phone",
                "email",
            ]);
            assert!(keys(&o[a]).is_subset(&allowed), "{a}: {o}");
            assert_eq!(
                o[a]["country"].as_str().map(str::len),
                Some(2),
                "ISO alpha-2"
            );
        }
        let p = &o["paymentInfo"];
        assert!(
            [
                "credit_card",
                "paypal",
                "ach",
                "purchase_order",
                "gift_card",
                "terms"
            ]
            .contains(&p["method"].as_str().unwrap_or("")),
            "{p}"
        );
        assert!(
            [
                "authorized",
                "captured",
                "partially_refunded",
                "refunded",
                "voided",
                "failed"
            ]
            .contains(&p["status"].as_str().unwrap_or("")),
            "{p}"
        );
        assert!(is_money_string(&p["amount"]), "{p}");
        // "string or null": present either way.
        for n in ["cardBrand", "last4", "poNumber", "terms", "capturedAt"] {
            assert!(p.get(n).is_some(), "{n} missing: {p}");
        }
    }
    s.app.stop().await;
}

#[tokio::test]
async fn clarity_errors_are_rfc_7807_problems_with_the_spec_codes() {
    let s = sandbox("intacct").await;
    let token = s.clarity_token().await;

    let (status, headers, p) = s.clarity_get(&token, "/api/v1/orders/CO-NOPE").await;
    assert_eq!(status, 404);
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/problem+json")),
        "{headers:?}"
    );
    assert!(
        keys(&p).is_superset(&set(&[
            "type",
            "title",
            "status",
            "code",
            "detail",
            "requestId"
        ])),
        "{p}"
    );
    assert_eq!(p["status"], 404);
    assert_eq!(p["code"], "NOT_FOUND");
    assert!(
        p["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://errors.clarity.example/")),
        "{p}"
    );

    let (status, headers, p) = s.clarity_get("not-a-token", "/api/v1/orders").await;
    assert_eq!(status, 401);
    assert_eq!(p["code"], "UNAUTHORIZED");
    assert_eq!(
        headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\"")
    );

    // The spec's validation example: type …/validation, errors[] of {field, code, message}.
    let resp = s
        .app
        .client
        .post(s.clarity("/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": "not a url", "events": ["order.created"]}))
        .send()
        .await
        .expect("POST /webhooks");
    assert_eq!(resp.status().as_u16(), 422);
    let p: Value = resp.json().await.expect("JSON");
    assert_eq!(p["code"], "VALIDATION_FAILED");
    assert_eq!(p["status"], 422);
    assert_eq!(p["type"], "https://errors.clarity.example/validation");
    let e = &p["errors"][0];
    assert_eq!(keys(e), set(&["field", "code", "message"]), "{p}");
    assert_eq!(e["field"], "url");
    s.app.stop().await;
}

/// A delivery as the receiver saw it.
struct Delivery {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A local webhook receiver answering 200 to everything; what it got comes
/// out of the channel.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Delivery {
                    headers,
                    body: body.to_vec(),
                });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn a_clarity_webhook_is_signed_as_spec_4_4_says_computed_here_from_the_formula() {
    let s = sandbox("intacct").await;
    let token = s.clarity_token().await;
    let (url, mut deliveries) = receiver().await;
    let resp = s
        .app
        .client
        .post(s.clarity("/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": url, "events": ["order.created"], "description": "wire test"}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(resp.status().as_u16(), 201);
    let hook: Value = resp.json().await.expect("JSON");
    // §4.1: {"webhookId":"wh_…","secret":"whsec_<base64-32-bytes>","events":[…],"active":true}
    assert!(
        keys(&hook).is_superset(&set(&["webhookId", "secret", "events", "active"])),
        "{hook}"
    );
    assert!(
        hook["webhookId"]
            .as_str()
            .is_some_and(|w| w.starts_with("wh_"))
    );
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!(["order.created"]));
    let secret = hook["secret"].as_str().expect("secret").to_owned();
    let raw = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("base64 after whsec_");
        assert_eq!(bytes.len(), 32, "32 random bytes");
    }

    let ids = s.place_orders(1).await;
    let d = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
        .await
        .expect("a delivery within 30 s")
        .expect("the receiver is alive");
    let header = |name: &str| {
        d.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{name} missing: {:?}", d.headers))
            .to_owned()
    };
    assert!(header("content-type").starts_with("application/json"));
    assert_eq!(header("user-agent"), "Clarity-Webhooks/1.0");
    let event_id = header("clarity-webhook-id");
    let timestamp = header("clarity-webhook-timestamp");
    let t: i64 = timestamp.parse().expect("Unix seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - t).abs() <= 300, "within the 300 s tolerance");

    // `t=<timestamp>,v1=<hex>` where v1 = hex(HMAC_SHA256(secret, "<t>.<raw body>")).
    let signature = header("clarity-webhook-signature");
    let mut parts = signature.split(',');
    assert_eq!(
        parts.next(),
        Some(format!("t={timestamp}").as_str()),
        "{signature}"
    );
    let v1: Vec<&str> = parts.filter_map(|p| p.strip_prefix("v1=")).collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&d.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(v1, vec![expected.as_str()], "{signature}");

    // §4.3's body.
    let event: Value = serde_json::from_slice(&d.body).expect("a JSON body");
    assert_eq!(
        keys(&event),
        set(&[
            "id",
            "type",
            "createdAt",
            "apiVersion",
            "attempt",
            "data",
            "previousAttributes"
        ])
    );
    assert_eq!(event["id"], event_id.as_str());
    assert!(event_id.starts_with("evt_"));
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["apiVersion"], "v1");
    assert_eq!(event["attempt"], 1);
    assert!(is_rfc3339_utc(event["createdAt"].as_str().unwrap_or("")));
    assert_eq!(event["data"]["object"]["orderId"], ids[0].as_str());
    assert!(event["previousAttributes"].is_null());
    s.app.stop().await;
}

// ---------------------------------------------------------------------------
// Sage Intacct (shared/specs/sage-intacct.md)
// ---------------------------------------------------------------------------

/// A minimal XML tree, written here so the test shares no parser knowledge
/// with either side.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn parse(xml: &str) -> Node {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let open = |e: &quick_xml::events::BytesStart<'_>| {
            let mut n = Node {
                name: e.name().as_ref().to_owned(),
                ..Node::default()
            };
            for a in e.attributes() {
                let a = a.expect("a well-formed attribute");
                n.attrs.push((
                    a.key.as_ref().to_owned(),
                    quick_xml::escape::unescape(&a.value)
                        .expect("entities")
                        .into_owned(),
                ));
            }
            n
        };
        let mut stack: Vec<Node> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => stack.push(open(&e)),
                Event::Empty(e) => {
                    let n = open(&e);
                    match stack.last_mut() {
                        Some(p) => p.children.push(n),
                        None => return n,
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        // Kept escaped until the element ends, then unescaped once.
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push('&');
                        top.text.push_str(&r);
                        top.text.push(';');
                    }
                }
                Event::End(_) => {
                    let mut n = stack.pop().expect("balanced");
                    n.text = quick_xml::escape::unescape(n.text.trim())
                        .expect("entities")
                        .into_owned();
                    match stack.last_mut() {
                        Some(p) => p.children.push(n),
                        None => return n,
                    }
                }
                Event::Eof => panic!("no root element in {xml}"),
                _ => {}
            }
        }
    }

    /// The child named `name`; Intacct's record names vary in case (§4).
    fn get(&self, name: &str) -> &Node {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:#?}", self.name))
    }

    fn has(&self, name: &str) -> bool {
        self.children
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    }

    fn text_of(&self, name: &str) -> &str {
        &self.get(name).text
    }

    fn all(&self, name: &str) -> Vec<&Node> {
        self.children
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(name))
            .collect()
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// `MM/DD/YYYY HH:MM:SS`, no zone (§5.4, §10).
fn is_intacct_timestamp(s: &str) -> bool {
    let f = time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(s, f).is_ok()
}

/// `2024-06-01T10:00:00+00:00` (§3.2): seconds, and an offset, not `Z`.
fn is_session_timestamp(s: &str) -> bool {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    time::OffsetDateTime::parse(s, f).is_ok()
}

impl Sandbox {
    fn gateway(&self) -> String {
        self.app.url(&format!(
            "/sandbox/intacct/{}/ia/xml/xmlgw.phtml",
            self.pair
        ))
    }

    async fn intacct_raw(&self, body: String) -> (u16, HeaderMap, Node) {
        let resp = self
            .app
            .client
            .post(self.gateway())
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .expect("gateway");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        (status, headers, Node::parse(&text))
    }

    /// §2's envelope around `functions`, with `auth` as the authentication.
    fn envelope(&self, controlid: &str, uniqueid: bool, auth: &str, functions: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request><control>\
             <senderid>{}</senderid><password>{}</password><controlid>{controlid}</controlid>\
             <uniqueid>{uniqueid}</uniqueid><dtdversion>3.0</dtdversion>\
             <includewhitespace>false</includewhitespace></control>\
             <operation><authentication>{auth}</authentication><content>{functions}</content>\
             </operation></request>",
            self.creds.intacct_sender_id, self.creds.intacct_sender_password
        )
    }

    fn login(&self) -> String {
        format!(
            "<login><userid>{}</userid><companyid>{}</companyid><password>{}</password></login>",
            self.creds.intacct_user_id,
            self.creds.intacct_company_id,
            self.creds.intacct_user_password
        )
    }

    /// A session from `getAPISession` (§3.2).
    async fn session(&self) -> String {
        let body = self.envelope(
            "session-1",
            false,
            &self.login(),
            "<function controlid=\"getsession\"><getAPISession/></function>",
        );
        let (_, _, r) = self.intacct_raw(body).await;
        r.get("operation")
            .get("result")
            .get("data")
            .get("api")
            .text_of("sessionid")
            .to_owned()
    }

    async fn with_session(&self, controlid: &str, uniqueid: bool, functions: &str) -> Node {
        let session = self.session().await;
        let auth = format!("<sessionid>{session}</sessionid>");
        let (status, _, r) = self
            .intacct_raw(self.envelope(controlid, uniqueid, &auth, functions))
            .await;
        assert_eq!(status, 200, "business answers are HTTP 200 (§1)");
        r
    }
}

#[tokio::test]
async fn intacct_get_api_session_answers_the_spec_envelope() {
    let s = sandbox("intacct").await;
    let body = s.envelope(
        "session-1",
        false,
        &s.login(),
        "<function controlid=\"getsession\"><getAPISession/></function>",
    );
    let (status, headers, r) = s.intacct_raw(body).await;
    assert_eq!(status, 200);
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("xml")),
        "{headers:?}"
    );
    assert_eq!(r.name, "response");
    let control = r.get("control");
    assert_eq!(
        control.names(),
        ["status", "senderid", "controlid", "uniqueid", "dtdversion"]
    );
    assert_eq!(control.text_of("status"), "success");
    assert_eq!(control.text_of("senderid"), s.creds.intacct_sender_id);
    assert_eq!(control.text_of("controlid"), "session-1");
    assert_eq!(control.text_of("uniqueid"), "false");
    assert_eq!(control.text_of("dtdversion"), "3.0");
    assert!(!r.has("errormessage"));

    let op = r.get("operation");
    let auth = op.get("authentication");
    assert_eq!(auth.text_of("status"), "success");
    assert_eq!(auth.text_of("userid"), s.creds.intacct_user_id);
    assert_eq!(auth.text_of("companyid"), s.creds.intacct_company_id);
    assert!(
        is_session_timestamp(auth.text_of("sessiontimestamp")),
        "{auth:#?}"
    );
    assert!(
        is_session_timestamp(auth.text_of("sessiontimeout")),
        "{auth:#?}"
    );

    let result = op.get("result");
    assert_eq!(result.text_of("status"), "success");
    // The SDK's mock says getSession (§3.2), so the function text is not checked.
    assert!(result.has("function"));
    assert_eq!(result.text_of("controlid"), "getsession");
    let api = result.get("data").get("api");
    assert!(
        api.text_of("sessionid").ends_with(".."),
        "§12: tokens end in '..'"
    );
    assert!(
        api.text_of("endpoint")
            .ends_with(&format!("/sandbox/intacct/{}/ia/xml/xmlgw.phtml", s.pair)),
        "the endpoint points back at the simulator: {api:#?}"
    );
    assert!(api.has("locationid"));
    s.app.stop().await;
}

#[tokio::test]
async fn intacct_read_by_query_pages_with_result_id_and_month_first_timestamps() {
    let s = sandbox("intacct").await;
    let r = s
        .with_session(
            "items-1",
            false,
            "<function controlid=\"items-delta-1\"><readByQuery><object>ITEM</object>\
             <fields>RECORDNO,ITEMID,WHENMODIFIED</fields><query></query><pagesize>2</pagesize>\
             </readByQuery></function>",
        )
        .await;
    let result = r.get("operation").get("result");
    assert_eq!(
        result.names()[..3],
        ["status", "function", "controlid"],
        "{result:#?}"
    );
    assert_eq!(result.text_of("status"), "success");
    assert_eq!(result.text_of("function"), "readByQuery");
    assert_eq!(result.text_of("controlid"), "items-delta-1");
    let data = result.get("data");
    let count: u64 = data
        .attr("count")
        .expect("count")
        .parse()
        .expect("a number");
    let total: u64 = data
        .attr("totalcount")
        .expect("totalcount")
        .parse()
        .expect("a number");
    let remaining: u64 = data
        .attr("numremaining")
        .expect("numremaining")
        .parse()
        .expect("a number");
    assert!(
        data.attr("listtype")
            .is_some_and(|l| l.eq_ignore_ascii_case("item"))
    );
    assert_eq!(count, 2);
    assert!(total > 2, "the seed has more than two items");
    assert_eq!(remaining, total - 2);
    let result_id = data.attr("resultId").expect("resultId").to_owned();
    let items = data.all("item");
    assert_eq!(items.len(), 2);
    for item in &items {
        assert!(item.text_of("RECORDNO").parse::<u64>().is_ok());
        assert!(
            is_intacct_timestamp(item.text_of("WHENMODIFIED")),
            "{item:#?}"
        );
    }

    let next = s
        .with_session(
            "items-2",
            false,
            &format!(
                "<function controlid=\"items-delta-2\"><readMore><resultId>{result_id}</resultId>\
                 </readMore></function>"
            ),
        )
        .await;
    let data = next.get("operation").get("result").get("data");
    let left: u64 = data
        .attr("numremaining")
        .expect("numremaining")
        .parse()
        .expect("a number");
    assert_eq!(left, remaining.saturating_sub(2));
    s.app.stop().await;
}

#[tokio::test]
async fn intacct_query_pages_by_offset_with_the_spec_attributes() {
    let s = sandbox("intacct").await;
    let r = s
        .with_session(
            "q-1",
            false,
            "<function controlid=\"items-delta-q1\"><query><object>ITEM</object>\
             <select><field>RECORDNO</field><field>ITEMID</field><field>WHENMODIFIED</field></select>\
             <filter><greaterthanorequalto><field>WHENMODIFIED</field><value>01/01/2000 00:00:00</value>\
             </greaterthanorequalto></filter>\
             <orderby><order><field>ITEMID</field><ascending/></order></orderby>\
             <pagesize>2</pagesize><offset>1</offset></query></function>",
        )
        .await;
    let result = r.get("operation").get("result");
    assert_eq!(result.text_of("status"), "success", "{result:#?}");
    let data = result.get("data");
    for a in ["listtype", "totalcount", "offset", "count", "numremaining"] {
        assert!(data.attr(a).is_some(), "data@{a} missing: {data:#?}");
    }
    assert_eq!(data.attr("offset"), Some("1"));
    assert_eq!(data.attr("count"), Some("2"));
    let total: u64 = data
        .attr("totalcount")
        .unwrap_or("0")
        .parse()
        .expect("a number");
    assert_eq!(
        data.attr("numremaining"),
        Some((total - 3).to_string().as_str())
    );
    let ids: Vec<&str> = data.children.iter().map(|c| c.text_of("ITEMID")).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "orderby ITEMID ascending");
    s.app.stop().await;
}

#[tokio::test]
async fn intacct_generic_create_answers_the_lower_case_object_and_a_repeat_is_refused() {
    let s = sandbox("intacct").await;
    let dept = format!("D{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let create = format!(
        "<function controlid=\"dept-{dept}\"><create><DEPARTMENT><DEPARTMENTID>{dept}</DEPARTMENTID>\
         <TITLE>Wire test</TITLE></DEPARTMENT></create></function>"
    );
    let r = s.with_session("w-1", true, &create).await;
    let result = r.get("operation").get("result");
    assert_eq!(result.text_of("status"), "success", "{result:#?}");
    let data = result.get("data");
    assert_eq!(data.attr("listtype"), Some("objects"));
    assert_eq!(data.attr("count"), Some("1"));
    // §4: "The inner element is the lower-case object name."
    let record = &data.children[0];
    assert_eq!(record.name, "department");
    assert!(record.text_of("RECORDNO").parse::<u64>().is_ok());

    // §7: the same function controlid under uniqueid=true cannot run again.
    let again = s.with_session("w-2", true, &create).await;
    let result = again.get("operation").get("result");
    assert_eq!(result.text_of("status"), "failure");
    let error = result.get("errormessage").get("error");
    assert_eq!(
        error.names(),
        ["errorno", "description", "description2", "correction"]
    );
    assert_eq!(error.text_of("errorno"), "SIM_DUPLICATE_CONTROLID");
    assert_eq!(
        error.text_of("description2"),
        format!("A successful request with control ID 'dept-{dept}' has already been processed.")
    );
    s.app.stop().await;
}

#[tokio::test]
async fn intacct_failures_sit_at_the_level_the_spec_gives_them() {
    let s = sandbox("intacct").await;

    // A wrong sender password: control failure, errormessage beside control, nothing ran.
    let mut bad = s.envelope(
        "bad-sender",
        false,
        &s.login(),
        "<function controlid=\"f\"><getAPISession/></function>",
    );
    bad = bad.replace(
        &format!("<password>{}</password>", s.creds.intacct_sender_password),
        "<password>wrong</password>",
    );
    let (status, _, r) = s.intacct_raw(bad).await;
    assert_eq!(status, 200);
    assert_eq!(r.get("control").text_of("status"), "failure");
    assert!(!r.has("operation"), "nothing ran: {r:#?}");
    assert_eq!(
        r.get("errormessage").get("error").text_of("errorno"),
        "XL03000006"
    );

    // Malformed XML: control failure XL03000003.
    let (_, _, r) = s
        .intacct_raw("<request><control><senderid>x</senderid></request>".to_owned())
        .await;
    assert_eq!(r.get("control").text_of("status"), "failure");
    assert_eq!(
        r.get("errormessage").get("error").text_of("errorno"),
        "XL03000003"
    );

    // A wrong user password: authentication failure, control succeeded.
    let login = s.login().replace(
        &format!("<password>{}</password>", s.creds.intacct_user_password),
        "<password>wrong</password>",
    );
    let (_, _, r) = s
        .intacct_raw(s.envelope(
            "bad-user",
            false,
            &login,
            "<function controlid=\"f\"><getAPISession/></function>",
        ))
        .await;
    assert_eq!(r.get("control").text_of("status"), "success");
    let op = r.get("operation");
    assert_eq!(op.get("authentication").text_of("status"), "failure");
    assert!(op.has("errormessage"), "{op:#?}");
    assert!(!op.has("result"), "no function ran: {op:#?}");

    // A function failure: the result carries the four error parts.
    let r = s
        .with_session(
            "f-1",
            false,
            "<function controlid=\"no-title\"><create><DEPARTMENT><DEPARTMENTID>DX</DEPARTMENTID>\
             </DEPARTMENT></create></function>",
        )
        .await;
    assert_eq!(r.get("control").text_of("status"), "success");
    let result = r.get("operation").get("result");
    assert_eq!(result.text_of("status"), "failure");
    assert_eq!(result.text_of("controlid"), "no-title");
    let error = result.get("errormessage").get("error");
    for part in ["errorno", "description", "description2", "correction"] {
        assert!(error.has(part), "{part} missing: {error:#?}");
    }
    s.app.stop().await;
}

// ---------------------------------------------------------------------------
// Sage Pro (shared/specs/sage-pro.md)
// ---------------------------------------------------------------------------

impl Sandbox {
    fn sagepro(&self, path: &str) -> String {
        self.app.url(&format!(
            "/sandbox/sagepro/{}/api/v1/sagepro{path}",
            self.pair
        ))
    }

    async fn sagepro_send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        idempotency: Option<&str>,
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        let mut req = self
            .app
            .client
            .request(method.parse().expect("a method"), self.sagepro(path));
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        if let Some(i) = idempotency {
            req = req.header("Idempotency-Key", i);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("Sage Pro request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {bytes:?}"));
        (status, headers, body)
    }

    async fn sagepro_get(&self, path: &str) -> (u16, HeaderMap, Value) {
        let key = self.creds.sagepro_api_key.clone();
        self.sagepro_send("GET", path, Some(&key), None, None).await
    }
}

/// §1: `{"Error": {"Code", "Message", "Details": [{"Field", "Message"}], "RequestId"}}`.
fn assert_sagepro_error(body: &Value, code: &str) {
    assert_eq!(keys(body), set(&["Error"]), "{body}");
    let e = &body["Error"];
    assert!(
        keys(e).is_superset(&set(&["Code", "Message", "Details", "RequestId"])),
        "{body}"
    );
    assert_eq!(e["Code"], code, "{body}");
    assert!(e["Message"].is_string());
    assert!(e["RequestId"].as_str().is_some_and(|r| !r.is_empty()));
    for d in e["Details"].as_array().expect("Details is a list") {
        assert!(keys(d).is_superset(&set(&["Field", "Message"])), "{d}");
    }
}

#[tokio::test]
async fn sage_pro_lists_answer_pascal_case_one_based_pages() {
    let s = sandbox("sagepro").await;
    let (status, _, page) = s.sagepro_get("/products?Page=1&PageSize=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        keys(&page),
        set(&["Data", "Page", "PageSize", "TotalCount", "HasMore"])
    );
    assert_eq!(page["Page"], 1);
    assert_eq!(page["PageSize"], 2);
    let total = page["TotalCount"].as_u64().expect("TotalCount");
    assert!(total > 2);
    assert_eq!(page["HasMore"], true);
    let product = &page["Data"][0];
    // §3.2's example, name for name.
    assert_eq!(
        keys(product),
        set(&[
            "ItemCode",
            "Description",
            "ExtendedDescription",
            "Price",
            "Cost",
            "UnitOfMeasure",
            "Weight",
            "ProductLine",
            "Taxable",
            "Status",
            "DefaultWarehouse",
            "WebEnabled",
            "RowVersion",
            "LastModified"
        ])
    );
    assert!(
        product["Price"].is_number(),
        "money is a JSON number: {product}"
    );
    assert!(product["Taxable"].is_boolean());
    assert!(["Active", "Inactive"].contains(&product["Status"].as_str().unwrap_or("")));
    assert!(is_rfc3339_utc(
        product["LastModified"].as_str().unwrap_or("")
    ));
    let code = product["ItemCode"].as_str().expect("ItemCode");
    assert_eq!(code, code.to_uppercase(), "codes are upper-case");

    let last = total.div_ceil(2);
    let (_, _, end) = s
        .sagepro_get(&format!("/products?Page={last}&PageSize=2"))
        .await;
    assert_eq!(end["Page"], last);
    assert_eq!(end["HasMore"], false);
    s.app.stop().await;
}

#[tokio::test]
async fn sage_pro_errors_have_the_spec_body_and_status() {
    let s = sandbox("sagepro").await;
    let (status, _, body) = s.sagepro_send("GET", "/products", None, None, None).await;
    assert_eq!(status, 401);
    assert_sagepro_error(&body, "UNAUTHORIZED");

    let (status, _, body) = s.sagepro_get("/orders/9999999").await;
    assert_eq!(status, 404);
    assert_sagepro_error(&body, "NOT_FOUND");

    // §4's example: an unknown customer on order create.
    let key = s.creds.sagepro_api_key.clone();
    let (status, _, body) = s
        .sagepro_send(
            "POST",
            "/orders",
            Some(&key),
            Some("wire-unknown-customer"),
            Some(
                json!({"CustomerNo": "ZZZ99", "OrderDate": "2024-06-01", "OrderType": "Standard",
                        "LineItems": [{"ItemCode": "SKU-1001", "Quantity": 1}]}),
            ),
        )
        .await;
    assert_eq!(status, 422);
    assert_sagepro_error(&body, "VALIDATION_FAILED");
    assert_eq!(body["Error"]["Message"], "Invalid Customer Number");
    assert_eq!(body["Error"]["Details"][0]["Field"], "CustomerNo");

    // §6: every POST requires an Idempotency-Key; without one, 400.
    let (status, _, body) = s
        .sagepro_send(
            "POST",
            "/orders",
            Some(&key),
            None,
            Some(json!({"CustomerNo": "ZZZ99"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_sagepro_error(&body, "BAD_REQUEST");
    s.app.stop().await;
}

#[tokio::test]
async fn a_sage_pro_order_answers_the_spec_example_shape_and_replays_idempotently() {
    let s = sandbox("sagepro").await;
    let (_, _, customers) = s.sagepro_get("/customers?PageSize=100").await;
    let customer = customers["Data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Status"] == "Active" && c["OnHold"] == false)
        .and_then(|c| c["CustomerNo"].as_str())
        .expect("a seeded customer who may order")
        .to_owned();
    let (_, _, products) = s.sagepro_get("/products?PageSize=100").await;
    let item = products["Data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["Status"] == "Active")
        .and_then(|p| p["ItemCode"].as_str())
        .expect("a seeded item on sale")
        .to_owned();
    let address = json!({ "Name": "Jane Doe", "Address1": "1 Main St", "City": "Austin", "State": "TX", "Zip": "78701", "Country": "US" });
    // §3.1's create example, with the seed's customer and item.
    let order = json!({
        "CustomerNo": customer, "OrderDate": "2024-06-01", "OrderType": "Standard",
        "CustomerPO": "CO-100045", "ExternalOrderId": format!("clarity:CO-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]),
        "ShipToAddress": address, "BillToAddress": address,
        "LineItems": [ { "ItemCode": item, "Quantity": 2, "UnitPrice": 19.99, "TaxAmount": 3.20 } ],
        "FreightAmount": 0, "TotalAmount": 43.18, "PaymentTerms": "NET30"
    });
    let key = s.creds.sagepro_api_key.clone();
    let (status, headers, created) = s
        .sagepro_send(
            "POST",
            "/orders",
            Some(&key),
            Some("wire-order-1"),
            Some(order.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    // The spec's 201 answer, name for name.
    assert_eq!(
        keys(&created),
        set(&[
            "SalesOrderNo",
            "CustomerNo",
            "OrderDate",
            "OrderType",
            "Status",
            "CustomerPO",
            "ExternalOrderId",
            "ShipToAddress",
            "BillToAddress",
            "LineItems",
            "FreightAmount",
            "TaxTotal",
            "TotalAmount",
            "PaymentTerms",
            "ShipVia",
            "SalesRep",
            "Notes",
            "RowVersion",
            "LastModified"
        ])
    );
    let no = created["SalesOrderNo"].as_str().expect("SalesOrderNo");
    assert_eq!(no.len(), 7, "zero-padded to 7 digits: {no}");
    assert!(no.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/sagepro/orders/{no}").as_str())
    );
    assert_eq!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    assert_eq!(created["RowVersion"], 1);
    assert_eq!(created["OrderDate"], "2024-06-01", "dates are YYYY-MM-DD");
    assert!(is_rfc3339_utc(
        created["LastModified"].as_str().unwrap_or("")
    ));
    assert!(
        ["Open", "Backordered"].contains(&created["Status"].as_str().unwrap_or("")),
        "{created}"
    );
    let address_keys = set(&[
        "Name", "Address1", "Address2", "City", "State", "Zip", "Country", "Phone", "Email",
    ]);
    assert_eq!(keys(&created["ShipToAddress"]), address_keys);
    assert_eq!(
        created["ShipToAddress"]["Address2"], "",
        "blank, not absent"
    );
    let line = &created["LineItems"][0];
    assert_eq!(
        keys(line),
        set(&[
            "LineNo",
            "ItemCode",
            "Description",
            "Quantity",
            "UnitPrice",
            "TaxAmount",
            "Discount",
            "Warehouse",
            "ExtendedAmount",
            "QtyShipped"
        ])
    );
    assert_eq!(line["LineNo"], 1);
    assert_eq!(line["Quantity"], json!(2));
    assert_eq!(line["UnitPrice"], json!(19.99));
    assert_eq!(line["ExtendedAmount"], json!(39.98), "round(2*19.99,2) - 0");
    assert_eq!(created["TaxTotal"], json!(3.2));
    assert_eq!(created["TotalAmount"], json!(43.18));

    // §6: the same key and body replays the stored answer.
    let (status, headers, replay) = s
        .sagepro_send(
            "POST",
            "/orders",
            Some(&key),
            Some("wire-order-1"),
            Some(order.clone()),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(replay, created);
    // The same key with another body: 422 IDEMPOTENCY_KEY_REUSED.
    let mut other = order;
    other["CustomerPO"] = json!("CO-OTHER");
    let (status, _, body) = s
        .sagepro_send(
            "POST",
            "/orders",
            Some(&key),
            Some("wire-order-1"),
            Some(other),
        )
        .await;
    assert_eq!(status, 422);
    assert_sagepro_error(&body, "IDEMPOTENCY_KEY_REUSED");
    s.app.stop().await;
}
