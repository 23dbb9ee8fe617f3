//! Browser and protocol hygiene: security headers on every page, no inline
//! script for the CSP to forbid, HSTS behind TLS, a new token shown once
//! (POST → 303 → GET, no-store), the JSON API's body, content-type and query
//! errors in its one error shape, HTML error pages for browsers, logout
//! behind CSRF, and a template read by GET written back by PUT unchanged.

use connect::web::page_routes;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::{self, TestApp, WebSession};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A tenant with a sandbox pair, signed in to the web UI.
async fn tenant(app: &TestApp, company: &str) -> (String, String, WebSession) {
    let (email, token) = app.owner(company).await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let web = WebSession::sign_in(app, &email).await;
    (token, pair, web)
}

/// A page route's path with its parameters filled in for `pair`.
fn fill(path: &str, pair: &str) -> String {
    path.replace("{id}", pair)
        .replace("{flow}", "orders")
        .replace("{table}", "payment_terms")
        .replace("{*path}", "app.css")
        .replace("{system}", "sagepro")
        .replace("{index}", "0")
        .replace("{decision}", "accept")
        .replace("{version}", "1")
        .replace("{dl}", "dl_none")
        .replace("{target_id}", "pt_none")
        .replace("{action}", "suspend")
        .replace("{from}", "CAD")
        .replace("{to}", "USD")
        .replace("{date}", "2026-01-01")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn assert_security_headers(what: &str, h: &HeaderMap) {
    let csp = header(h, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{what}: CSP {csp:?}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(h, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(h, "referrer-policy"), "same-origin", "{what}");
}

/// Inline script bodies, `on…=` handlers and `style=` attributes in `html`;
/// each would be blocked by the CSP (or need it weakened).
fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(start) = rest.find('<') {
        let tag_and_after = &rest[start + 1..];
        let Some(end) = tag_and_after.find('>') else {
            break;
        };
        let tag = &tag_and_after[..end];
        let after = &tag_and_after[end + 1..];
        if tag.starts_with("script") {
            let body = after.split("</script>").next().unwrap_or("");
            if !tag.contains("src=") || !body.trim().is_empty() {
                found.push(format!("<{tag}>{body}"));
            }
        }
        // Attribute names follow whitespace inside the tag.
        for word in tag.split_whitespace().skip(1) {
            let name = word.split('=').next().unwrap_or("");
            let handler = name.len() > 2
                && name.starts_with("on")
                && name[2..].chars().all(|c| c.is_ascii_lowercase())
                && word.contains('=');
            if handler || (name == "style" && word.contains('=')) {
                found.push(format!("<{tag}>"));
            }
        }
        rest = after;
    }
    found
}

#[test]
fn the_inline_code_finder_finds_what_it_looks_for() {
    assert!(inline_code(r#"<p>x</p><script src="/static/a.js" defer></script>"#).is_empty());
    assert_eq!(inline_code("<script>alert(1)</script>").len(), 1);
    assert_eq!(inline_code(r#"<button onclick="go()">x</button>"#).len(), 1);
    assert_eq!(inline_code(r#"<div style="color:red">x</div>"#).len(), 1);
    assert!(inline_code(r#"<form action="/x" onceupon>"#).is_empty());
}

#[tokio::test]
async fn every_page_answers_with_the_security_headers_and_no_inline_script() {
    let app = common::spawn_app().await;
    let (_, pair, web) = tenant(&app, "Headers Co").await;
    let mut html_pages = 0;
    for route in page_routes() {
        let url = app.url(&fill(route.path, &pair));
        let req = match route.method {
            "GET" => web.client.get(&url),
            // A forged form: refused, and the refusal carries the headers too.
            _ => web.client.post(&url).form(&[("csrf", "forged")]),
        };
        let resp = req
            .header("cookie", &web.cookie)
            .header("accept", HTML)
            .send()
            .await
            .unwrap();
        let what = format!("{} {} ({})", route.method, route.path, resp.status());
        assert_security_headers(&what, resp.headers());
        assert!(
            resp.headers().get("strict-transport-security").is_none(),
            "{what}: HSTS over plain http"
        );
        let is_html = header(resp.headers(), "content-type").starts_with("text/html");
        let body = resp.text().await.unwrap();
        if is_html {
            html_pages += 1;
            let inline = inline_code(&body);
            assert!(inline.is_empty(), "{what} has inline code: {inline:?}");
        }
    }
    assert!(html_pages > 20, "only {html_pages} HTML answers were read");

    // The API, an unknown path and a static file carry them as well.
    for path in ["/api/v1/me", "/no-such-page", "/static/editor.js"] {
        let resp = web
            .client
            .get(app.url(path))
            .header("cookie", &web.cookie)
            .send()
            .await
            .unwrap();
        assert_security_headers(path, resp.headers());
    }
}

#[test]
fn no_page_has_inline_script_or_style() {
    // The operator's pages are not reached above: read every page template.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pages");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // `mail/` holds e-mail bodies: never served under our CSP, and mail
        // clients drop <style> blocks, so they style inline.
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let inline = inline_code(&text);
        assert!(inline.is_empty(), "{}: {inline:?}", path.display());
        read += 1;
    }
    assert!(read >= 10, "only {read} pages in {}", dir.display());
}

#[tokio::test]
async fn hsts_is_sent_only_when_users_reach_the_app_over_tls() {
    // Plain http: no HSTS, whatever a client claims in X-Forwarded-Proto.
    let app = common::spawn_app().await;
    let resp = app
        .client
        .get(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none());
    drop(app);

    let (env, dir) =
        common::fresh_env(&[("CONNECT_PUBLIC_URL", "https://connect.example.test")]).await;
    let app = common::start(env, dir).await;
    for path in ["/login", "/api/v1/me"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        let hsts = header(resp.headers(), "strict-transport-security");
        assert!(hsts.starts_with("max-age="), "{path}: HSTS {hsts:?}");
    }
}

#[tokio::test]
async fn a_new_token_is_shown_once_after_a_redirect_and_never_cached() {
    let app = common::spawn_app().await;
    let (_, _, web) = tenant(&app, "Token Co").await;
    let resp = web
        .client
        .post(app.url("/tokens"))
        .header("cookie", &web.cookie)
        .form(&[("csrf", web.csrf.as_str()), ("name", "reporting")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(header(resp.headers(), "location"), "/tokens");
    assert!(!resp.text().await.unwrap().contains("new-token"));

    let resp = web
        .client
        .get(app.url("/tokens"))
        .header("cookie", &web.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(resp.headers(), "cache-control"), "no-store");
    let page = resp.text().await.unwrap();
    let token = page
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new token on the page after the redirect")
        .to_owned();
    // It is the real token.
    let me = app.call("GET", "/api/v1/me", Some(&token), None, 200).await;
    assert!(me["email"].as_str().is_some(), "{me}");

    // A reload, or the back button, does not show it again.
    let (status, again) = web.get(&app, "/tokens").await;
    assert_eq!(status, 200);
    assert!(!again.contains("new-token"), "the token was shown twice");
    assert!(!again.contains(&token));
}

/// A raw request to the API; (status, content-type, body as JSON or Null).
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Value) {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = header(resp.headers(), "content-type").to_owned();
    let text = resp.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn assert_error(what: &str, got: &(u16, String, Value), status: u16, code: &str, field: &str) {
    let (s, ct, body) = got;
    assert_eq!(*s, status, "{what}: {body}");
    assert!(ct.starts_with("application/json"), "{what}: {ct}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert_eq!(body["error"]["field"], field, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn json_bodies_are_checked_and_every_error_has_the_json_shape() {
    let app = common::spawn_app().await;
    let (email, token) = app.owner("Json Co").await;
    let pair = app.sandbox_pair(&token, "intacct").await;
    let t = Some(token.as_str());
    let pair_body = |name: &str| {
        json!({"name": name, "erp": "intacct", "environment": "sandbox"})
            .to_string()
            .into_bytes()
    };

    let mut garbage = pair_body("Trailing");
    garbage.extend_from_slice(b" {\"name\": \"second\"}");
    let got = raw(
        &app,
        "POST",
        "/api/v1/pairs",
        t,
        Some("application/json"),
        garbage,
    )
    .await;
    assert_error("trailing garbage", &got, 400, "malformed", "body");

    let got = raw(
        &app,
        "POST",
        "/api/v1/pairs",
        t,
        Some("text/plain"),
        pair_body("Text"),
    )
    .await;
    assert_error(
        "text/plain",
        &got,
        415,
        "unsupported_media_type",
        "content-type",
    );
    let got = raw(&app, "POST", "/api/v1/pairs", t, None, pair_body("Bare")).await;
    assert_error(
        "no content-type",
        &got,
        415,
        "unsupported_media_type",
        "content-type",
    );
    let form = b"name=x&erp=intacct&environment=sandbox".to_vec();
    let got = raw(
        &app,
        "POST",
        "/api/v1/pairs",
        t,
        Some("application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_error(
        "a form",
        &got,
        415,
        "unsupported_media_type",
        "content-type",
    );
    // None of these made a pair; with a charset the same body does.
    let pairs = app.call("GET", "/api/v1/pairs", t, None, 200).await;
    assert_eq!(pairs.as_array().unwrap().len(), 1, "{pairs}");
    let got = raw(
        &app,
        "POST",
        "/api/v1/pairs",
        t,
        Some("application/json; charset=utf-8"),
        pair_body("Charset"),
    )
    .await;
    assert_eq!(got.0, 201, "{}", got.2);

    // NUL and other control characters in names and addresses.
    for (field, company, email) in [
        ("company", "Nul\u{0}Co", "nul@example.com"),
        ("company", "Line\nbreak Co", "lb@example.com"),
        ("email", "Fine Co", "nul\u{0}@example.com"),
        ("email", "Fine Co", "bell\u{7}x@example.com"),
    ] {
        let body = json!({"company": company, "email": email, "password": common::PASSWORD});
        let got = raw(
            &app,
            "POST",
            "/api/v1/signup",
            None,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await;
        assert_error(
            &format!("{company:?} {email:?}"),
            &got,
            422,
            "invalid",
            field,
        );
    }
    let e = app
        .call(
            "POST",
            "/api/v1/pairs",
            t,
            Some(json!({"name": "Pair\u{0}", "erp": "intacct", "environment": "sandbox"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "name", "{e}");
    let e = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({"email": email, "password": common::PASSWORD, "name": "tok\u{1b}[31m"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "name", "{e}");

    // Too large, on a JSON route, a CSV route and the webhook (which read
    // their bodies three different ways).
    let big = vec![b' '; 3 * 1024 * 1024];
    for (method, path, ct) in [
        ("POST", "/api/v1/pairs".to_owned(), "application/json"),
        ("PUT", "/api/v1/currency-rates.csv".to_owned(), "text/csv"),
        ("POST", format!("/hooks/clarity/{pair}"), "application/json"),
    ] {
        let got = raw(&app, method, &path, t, Some(ct), big.clone()).await;
        assert_error(&format!("3 MiB to {path}"), &got, 413, "too_large", "body");
    }

    // Query strings.
    let runs = format!("/api/v1/pairs/{pair}/runs?limit=abc");
    let got = raw(&app, "GET", &runs, t, None, Vec::new()).await;
    assert_error("runs?limit=abc", &got, 400, "malformed", "limit");
    let ok = format!("/api/v1/pairs/{pair}/runs?limit=5");
    assert_eq!(raw(&app, "GET", &ok, t, None, Vec::new()).await.0, 200);

    // axum's own rejections on the API: a wrong method, an unknown route.
    let got = raw(&app, "DELETE", "/api/v1/me", t, None, Vec::new()).await;
    assert_eq!(got.0, 405);
    assert_eq!(got.2["error"]["code"], "method_not_allowed", "{}", got.2);
    let got = raw(&app, "GET", "/api/v1/nothing-here", t, None, Vec::new()).await;
    assert_eq!(got.0, 404);
    assert_eq!(got.2["error"]["code"], "not_found", "{}", got.2);
}

/// `path` as a browser asks for it: (status, content-type, body).
async fn browse(app: &TestApp, web: Option<&WebSession>, path: &str) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(app.url(path)).header("accept", HTML);
    if let Some(w) = web {
        req = req.header("cookie", &w.cookie);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = header(resp.headers(), "content-type").to_owned();
    (status, ct, resp.text().await.unwrap())
}

fn assert_html_error(what: &str, got: &(u16, String, String), status: u16) {
    let (s, ct, body) = got;
    assert_eq!(*s, status, "{what}: {body}");
    assert!(ct.starts_with("text/html"), "{what}: {ct} {body}");
    assert!(!body.contains("{\"error\""), "{what}: JSON in the page");
    assert!(body.contains("<a "), "{what}: no way back in {body}");
    assert!(
        body.contains("href=\"/\""),
        "{what}: no link home in {body}"
    );
}

#[tokio::test]
async fn browsers_get_html_error_pages_with_a_way_back() {
    let app = common::spawn_app().await;
    let (_, pair, web) = tenant(&app, "Browser Co").await;

    assert_html_error(
        "unknown path",
        &browse(&app, None, "/no/such/page").await,
        404,
    );
    assert_html_error(
        "another tenant's pair",
        &browse(&app, Some(&web), "/pairs/p_not_mine").await,
        404,
    );
    assert_html_error(
        "operators only",
        &browse(&app, Some(&web), "/admin").await,
        403,
    );
    let bad_query = format!("/pairs/{pair}/templates/orders?saved=abc");
    assert_html_error(
        "a bad query",
        &browse(&app, Some(&web), &bad_query).await,
        400,
    );

    // A forged form post (403), read as a browser posts it.
    let resp = web
        .client
        .post(app.url("/tokens"))
        .header("cookie", &web.cookie)
        .header("accept", HTML)
        .form(&[("csrf", "forged"), ("name", "x")])
        .send()
        .await
        .unwrap();
    let got = (
        resp.status().as_u16(),
        header(resp.headers(), "content-type").to_owned(),
        resp.text().await.unwrap(),
    );
    assert_html_error("forged form", &got, 403);
    assert!(got.2.contains("reload the page"), "{}", got.2);

    // An upload over the body limit.
    let rows = format!(
        "from,to,date,rate\r\n{}",
        "EUR,USD,2024-01-01,1.08\r\n".repeat(130_000)
    );
    let resp = web
        .upload_request(&app, "/rates/import", &web.csrf, &[], "r.csv", &rows)
        .header("accept", HTML)
        .send()
        .await
        .unwrap();
    let got = (
        resp.status().as_u16(),
        header(resp.headers(), "content-type").to_owned(),
        resp.text().await.unwrap(),
    );
    assert_html_error("a 3 MiB upload", &got, 413);

    // The API stays JSON, even for a browser.
    let (status, ct, _) = browse(&app, Some(&web), "/api/v1/pairs/p_not_mine").await;
    assert_eq!(status, 404);
    assert!(ct.starts_with("application/json"), "{ct}");

    // A suspended tenant's pages.
    sqlx::query("UPDATE tenants SET status = 'suspended' WHERE name = $1")
        .bind("Browser Co")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let got = browse(&app, Some(&web), "/pairs").await;
    assert_html_error("suspended", &got, 403);
    assert!(got.2.contains("suspended"), "{}", got.2);
}

#[tokio::test]
async fn logout_needs_the_csrf_token() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Logout Co").await;
    let web = WebSession::sign_in(&app, &email).await;
    // A cross-site post carries the cookie but not the token.
    for form in [vec![], vec![("csrf", "forged")]] {
        let resp = web
            .client
            .post(app.url("/logout"))
            .header("cookie", &web.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{form:?}");
        assert!(resp.headers().get("set-cookie").is_none());
        let (status, _) = web.get(&app, "/pairs").await;
        assert_eq!(status, 200, "the session survived {form:?}");
    }
    let (status, _) = web.post(&app, "/logout", &[]).await;
    assert_eq!(status, 303);
    let (status, _) = web.get(&app, "/pairs").await;
    assert_eq!(status, 303, "signed out: back to the login page");
}

#[tokio::test]
async fn a_template_read_can_be_written_back_unchanged() {
    let app = common::spawn_app().await;
    let (token, pair, _) = tenant(&app, "Template Co").await;
    let t = Some(token.as_str());
    let path = format!("/api/v1/pairs/{pair}/templates/orders");
    let read = app.call("GET", &path, t, None, 200).await;
    let saved = app.call("PUT", &path, t, Some(read.clone()), 200).await;
    assert_eq!(
        saved["version"],
        read["version"].as_i64().unwrap() + 1,
        "{saved}"
    );
    let again = app.call("GET", &path, t, None, 200).await;
    assert_eq!(again["document"], read["document"]);
    assert_eq!(again["version"], saved["version"]);

    // The bare document still works.
    let saved = app
        .call("PUT", &path, t, Some(read["document"].clone()), 200)
        .await;
    assert_eq!(saved["version"], read["version"].as_i64().unwrap() + 2);

    // An envelope of another flow is not saved here.
    let mut other = read.clone();
    other["flow"] = json!("returns");
    let e = app.call("PUT", &path, t, Some(other), 422).await;
    assert_eq!(e["error"]["field"], "flow", "{e}");

    // No rules: the error names `rules`, not a rule.
    for body in [
        json!({}),
        json!({"record": "SODOCUMENT"}),
        json!({"rules": "all"}),
    ] {
        let e = app.call("PUT", &path, t, Some(body.clone()), 422).await;
        assert_eq!(e["error"]["field"], "rules", "{body}: {e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(!m.contains("rule 0"), "{m}");
    }
    let latest = app.call("GET", &path, t, None, 200).await;
    assert_eq!(latest["version"], read["version"].as_i64().unwrap() + 2);
}
