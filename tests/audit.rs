//! The audit log: a tenant's own entries and every tenant's for operators,
//! through the API (JSON and CSV) and the pages, filtered by actor, action
//! and UTC days; bad filter values are refused naming the parameter.

mod common;

use common::{PASSWORD, TestApp, WebSession};
use serde_json::Value;

const AUDIT: &str = "/api/v1/audit";
const ADMIN_AUDIT: &str = "/api/v1/admin/audit";

async fn tenant_id(app: &TestApp, token: &str) -> String {
    app.call("GET", "/api/v1/me", Some(token), None, 200).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn entries(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list of entries: {v}"))
}

/// The entries' values of `key`, as strings ("" for null).
fn column(v: &Value, key: &str) -> Vec<String> {
    entries(v)
        .iter()
        .map(|e| e[key].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The UTC day (`YYYY-MM-DD`) of `ms`, and the days before and after it.
fn days_around(ms: i64) -> (String, String, String) {
    let day = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .date();
    (
        day.previous_day().unwrap().to_string(),
        day.to_string(),
        day.next_day().unwrap().to_string(),
    )
}

/// A GET with a bearer token: status, content type, content disposition, body.
async fn fetch(app: &TestApp, path: &str, token: &str) -> (u16, String, String, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (resp.status().as_u16(), ct, cd, resp.text().await.unwrap())
}

/// Two tenants, each with sandbox pairs (each recorded as `pair.created`).
struct World {
    alice_email: String,
    alice: String,
    alice_tenant: String,
    alice_pairs: Vec<String>,
    bob_email: String,
    bob: String,
    bob_tenant: String,
    bob_pair: String,
}

async fn world(app: &TestApp) -> World {
    let (alice_email, alice) = app.owner("Alice Audit Co").await;
    let (bob_email, bob) = app.owner("Bob Audit Co").await;
    let alice_pairs = vec![
        app.sandbox_pair(&alice, "intacct").await,
        app.sandbox_pair(&alice, "intacct").await,
    ];
    let bob_pair = app.sandbox_pair(&bob, "intacct").await;
    World {
        alice_tenant: tenant_id(app, &alice).await,
        bob_tenant: tenant_id(app, &bob).await,
        alice_email,
        alice,
        alice_pairs,
        bob_email,
        bob,
        bob_pair,
    }
}

#[tokio::test]
async fn a_tenant_reads_only_its_own_log_filtered_by_action_actor_and_day() {
    let app = common::spawn_app().await;
    let w = world(&app).await;

    // Everything of Alice's, and nothing of Bob's.
    let all = app.call("GET", AUDIT, Some(&w.alice), None, 200).await;
    assert!(entries(&all).len() >= 3, "{all}");
    assert!(
        column(&all, "tenant_id")
            .iter()
            .all(|t| *t == w.alice_tenant),
        "{all}"
    );
    let text = all.to_string();
    assert!(
        !text.contains(&w.bob_pair) && !text.contains(&w.bob_email),
        "{all}"
    );
    for pair in &w.alice_pairs {
        assert!(text.contains(pair.as_str()), "{pair} in {all}");
    }
    // Newest first.
    let at: Vec<i64> = entries(&all)
        .iter()
        .map(|e| e["at"].as_i64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "{at:?}");

    // One action exactly.
    let created = app
        .call(
            "GET",
            &format!("{AUDIT}?action=pair.created"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert_eq!(column(&created, "action"), ["pair.created", "pair.created"]);
    let mut targets = column(&created, "target");
    targets.sort();
    let mut expected = w.alice_pairs.clone();
    expected.sort();
    assert_eq!(targets, expected);

    // A prefix ending in a dot: every action under it, and only those.
    let prefixed = app
        .call(
            "GET",
            &format!("{AUDIT}?action=pair."),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert!(
        column(&prefixed, "action")
            .iter()
            .all(|a| a.starts_with("pair.")),
        "{prefixed}"
    );
    assert!(entries(&prefixed).len() >= 2, "{prefixed}");
    // A prefix without its dot is an exact action, which no entry has.
    let none = app
        .call(
            "GET",
            &format!("{AUDIT}?action=pair"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert_eq!(entries(&none).len(), 0, "{none}");

    // Part of the actor's email, in any case.
    let local = w.alice_email.split('@').next().unwrap();
    let part = local[local.len() - 10..].to_uppercase();
    let by_alice = app
        .call(
            "GET",
            &format!("{AUDIT}?actor={part}"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert!(!entries(&by_alice).is_empty(), "{by_alice}");
    assert!(
        column(&by_alice, "actor_email")
            .iter()
            .all(|a| *a == w.alice_email),
        "{by_alice}"
    );
    // Bob's email names nobody in Alice's log.
    let by_bob = app
        .call(
            "GET",
            &format!("{AUDIT}?actor={}", w.bob_email),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert_eq!(entries(&by_bob).len(), 0, "{by_bob}");
    // `%` and `_` are matched as themselves, not as patterns.
    let wild = app
        .call(
            "GET",
            &format!("{AUDIT}?actor=%25"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert_eq!(entries(&wild).len(), 0, "{wild}");

    // Days, in UTC: `to` includes its whole day.
    let newest = entries(&created)[0]["at"].as_i64().unwrap();
    let (before, day, after) = days_around(newest);
    let on_day = app
        .call(
            "GET",
            &format!("{AUDIT}?action=pair.created&from={day}&to={day}"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert!(!entries(&on_day).is_empty(), "{on_day}");
    for (query, what) in [
        (format!("to={before}"), "to the day before"),
        (format!("from={after}"), "from the day after"),
    ] {
        let v = app
            .call(
                "GET",
                &format!("{AUDIT}?action=pair.created&{query}"),
                Some(&w.alice),
                None,
                200,
            )
            .await;
        assert!(
            entries(&v)
                .iter()
                .all(|e| e["at"].as_i64().unwrap() != newest),
            "{what}: {v}"
        );
    }

    // How many: the newest first.
    let one = app
        .call(
            "GET",
            &format!("{AUDIT}?limit=1"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    assert_eq!(entries(&one).len(), 1);
    assert_eq!(entries(&one)[0]["id"], entries(&all)[0]["id"]);

    // Bad values: 422, naming the parameter.
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("from=01%2F03%2F2026", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=lots", "limit"),
        ("action=pair%20created", "action"),
        ("format=xml", "format"),
    ] {
        let e = app
            .call(
                "GET",
                &format!("{AUDIT}?{query}"),
                Some(&w.alice),
                None,
                422,
            )
            .await;
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
        assert_eq!(e["error"]["code"], "invalid", "{query}: {e}");
        assert!(
            !e["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{query}: {e}"
        );
    }
    // 1000 is the most, and allowed.
    app.call(
        "GET",
        &format!("{AUDIT}?limit=1000"),
        Some(&w.alice),
        None,
        200,
    )
    .await;

    // Bob's log holds none of Alice's.
    let bobs = app.call("GET", AUDIT, Some(&w.bob), None, 200).await;
    assert!(
        column(&bobs, "tenant_id")
            .iter()
            .all(|t| *t == w.bob_tenant)
    );
    assert!(!bobs.to_string().contains(&w.alice_pairs[0]));
}

#[tokio::test]
async fn the_log_downloads_as_csv_with_the_same_filter() {
    let app = common::spawn_app().await;
    let w = world(&app).await;
    let (status, ct, cd, body) = fetch(
        &app,
        &format!("{AUDIT}?format=csv&action=pair.created"),
        &w.alice,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        cd.starts_with("attachment; filename=\"audit-log-") && cd.ends_with(".csv\""),
        "{cd}"
    );
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["at", "actor_email", "action", "target", "detail", "id"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{body}");
    for r in &rows {
        assert_eq!(&r[1], w.alice_email, "{body}");
        assert_eq!(&r[2], "pair.created", "{body}");
        assert!(w.alice_pairs.iter().any(|p| p == &r[3]), "{body}");
        assert!(
            r[0].ends_with('Z') && r[0].len() == 24,
            "a UTC time: {}",
            &r[0]
        );
    }
    assert!(!body.contains(&w.bob_pair));

    // The CSV and the JSON list the same entries.
    let json = app
        .call(
            "GET",
            &format!("{AUDIT}?action=pair.created"),
            Some(&w.alice),
            None,
            200,
        )
        .await;
    let ids: Vec<&str> = rows.iter().map(|r| r.get(5).unwrap()).collect();
    assert_eq!(ids, column(&json, "id"));

    // A bad filter is refused as JSON, not as a CSV file.
    let (status, ct, _, body) = fetch(&app, &format!("{AUDIT}?format=csv&to=soon"), &w.alice).await;
    assert_eq!(status, 422, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert!(body.contains("\"field\":\"to\""), "{body}");
}

#[tokio::test]
async fn operators_read_every_tenants_log_and_can_narrow_it_to_one() {
    let app = common::spawn_app().await;
    let w = world(&app).await;
    let op = app.operator("audit-op@platform.test").await;

    let all = app
        .call(
            "GET",
            &format!("{ADMIN_AUDIT}?action=pair.created"),
            Some(&op),
            None,
            200,
        )
        .await;
    let tenants = column(&all, "tenant_id");
    assert!(
        tenants.contains(&w.alice_tenant) && tenants.contains(&w.bob_tenant),
        "{all}"
    );
    assert_eq!(entries(&all).len(), 3, "{all}");
    // Unfiltered, the platform's own entries (no tenant) are there too.
    let everything = app.call("GET", ADMIN_AUDIT, Some(&op), None, 200).await;
    assert!(
        entries(&everything)
            .iter()
            .any(|e| e["action"] == "operator.created" && e["tenant_id"].is_null()),
        "{everything}"
    );

    let alices = app
        .call(
            "GET",
            &format!("{ADMIN_AUDIT}?tenant={}", w.alice_tenant),
            Some(&op),
            None,
            200,
        )
        .await;
    assert!(
        column(&alices, "tenant_id")
            .iter()
            .all(|t| *t == w.alice_tenant),
        "{alices}"
    );
    assert!(!alices.to_string().contains(&w.bob_pair));

    // Filters combine with the tenant.
    let bobs_pairs = app
        .call(
            "GET",
            &format!(
                "{ADMIN_AUDIT}?tenant={}&action=pair.&actor={}",
                w.bob_tenant, w.bob_email
            ),
            Some(&op),
            None,
            200,
        )
        .await;
    assert_eq!(
        column(&bobs_pairs, "target"),
        std::slice::from_ref(&w.bob_pair)
    );

    for (query, field) in [
        ("tenant=ten_nobody", "tenant"),
        ("tenant=not-an-id", "tenant"),
        ("limit=5000", "limit"),
        ("from=2026-02-30", "from"),
    ] {
        let e = app
            .call(
                "GET",
                &format!("{ADMIN_AUDIT}?{query}"),
                Some(&op),
                None,
                422,
            )
            .await;
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
    }

    // CSV names each entry's tenant.
    let (status, ct, cd, body) = fetch(
        &app,
        &format!("{ADMIN_AUDIT}?format=csv&action=pair.created"),
        &op,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(cd.contains("filename=\"audit-log-all-tenants-"), "{cd}");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("at,tenant_id,actor_email,action,target,detail,id")
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 3, "{body}");
    assert!(rest.iter().any(|l| l.contains(&w.alice_tenant)));
    assert!(rest.iter().any(|l| l.contains(&w.bob_tenant)));

    // A tenant's token does not reach the operators' log, and an operator's
    // does not reach a tenant's.
    let e = app
        .call("GET", ADMIN_AUDIT, Some(&w.alice), None, 403)
        .await;
    assert_eq!(e["error"]["code"], "forbidden");
    app.call(
        "GET",
        &format!("{ADMIN_AUDIT}?format=csv&tenant={}", w.bob_tenant),
        Some(&w.alice),
        None,
        403,
    )
    .await;
    app.call("GET", AUDIT, Some(&op), None, 403).await;
    app.call("GET", ADMIN_AUDIT, None, None, 401).await;
}

/// Signs an operator in to the web UI: a client that does not follow
/// redirects, and the session cookie.
async fn operator_browser(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    app.operator(email).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(app.url("/login"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (client, cookie)
}

async fn page(client: &reqwest::Client, cookie: &str, url: String) -> (u16, String, String) {
    let resp = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status().as_u16(), ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn the_pages_show_the_log_with_a_filter_form_and_a_csv_link() {
    let app = common::spawn_app().await;
    let w = world(&app).await;

    // A tenant's page: its own entries, linked from the menu.
    let web = WebSession::sign_in(&app, &w.alice_email).await;
    let (_, pairs) = web.get(&app, "/pairs").await;
    assert!(pairs.contains("href=\"/audit\""), "the menu links the log");
    let (status, html) = web.get(&app, "/audit").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>Audit log</h1>"));
    assert!(
        html.contains("method=\"get\" action=\"/audit\""),
        "a GET filter form"
    );
    for pair in &w.alice_pairs {
        assert!(html.contains(pair.as_str()), "{pair} on the page");
    }
    assert!(html.contains("pair.created") && html.contains(&w.alice_email));
    assert!(!html.contains(&w.bob_pair) && !html.contains(&w.bob_email));
    assert!(html.contains("href=\"/audit.csv\""), "the CSV link");
    assert!(
        !html.contains("<th scope=\"col\">Tenant</th>"),
        "no tenant column"
    );

    // Filtered: the rows, the values kept in the form, the CSV link carrying them.
    let (status, html) = web
        .get(&app, "/audit?action=pair.created&actor=OWNER-&limit=50")
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("value=\"pair.created\""), "{html}");
    // (However the page escapes the `&` between them.)
    let links = html.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        links.contains("href=\"/audit.csv?actor=OWNER-&action=pair.created&limit=50\""),
        "{html}"
    );
    assert!(html.contains("2 entries"), "{html}");
    assert!(!html.contains("tenant.created"), "{html}");

    // The CSV behind that link.
    let resp = web
        .client
        .get(app.url("/audit.csv?actor=OWNER-&action=pair.created&limit=50"))
        .header("cookie", &web.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"audit-log-")
    );
    let csv = resp.text().await.unwrap();
    assert!(
        csv.starts_with("at,actor_email,action,target,detail,id\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Nothing matches: the page says so and offers everything.
    let (status, html) = web.get(&app, "/audit?actor=nobody-at-all").await;
    assert_eq!(status, 200);
    assert!(html.contains("No entries match this filter"), "{html}");
    assert!(html.contains("href=\"/audit\""), "{html}");

    // A bad value: shown on its field, no entries, 422.
    let (status, html) = web.get(&app, "/audit?from=31.12.2025").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("id=\"audit-from-error\""), "{html}");
    assert!(html.contains("YYYY-MM-DD"), "{html}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert!(
        !html.contains(&w.alice_pairs[0]),
        "no rows with a bad filter"
    );

    // A tenant's session cannot open the operators' page or download.
    for path in ["/admin/audit", "/admin/audit.csv"] {
        let (status, body) = web.get(&app, path).await;
        assert_eq!(status, 403, "{path}: {body}");
    }

    // The operators' page: every tenant, with its column and filter.
    let (client, cookie) = operator_browser(&app, "audit-page-op@platform.test").await;
    let (status, _, admin) = page(&client, &cookie, app.url("/admin")).await;
    assert_eq!(status, 200);
    assert!(
        admin.contains("href=\"/admin/audit\""),
        "the operator menu links the log"
    );
    let (status, _, html) = page(&client, &cookie, app.url("/admin/audit")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<th scope=\"col\">Tenant</th>"));
    assert!(
        html.contains(&w.alice_pairs[0]) && html.contains(&w.bob_pair),
        "{html}"
    );
    assert!(html.contains("Alice Audit Co") && html.contains("Bob Audit Co"));
    assert!(html.contains("href=\"/admin/audit.csv\""));
    assert!(html.contains(&format!("<option value=\"{}\"", w.bob_tenant)));

    let url = app.url(&format!("/admin/audit?tenant={}", w.bob_tenant));
    let (status, _, html) = page(&client, &cookie, url).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&w.bob_pair) && !html.contains(&w.alice_pairs[0]),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "href=\"/admin/audit.csv?tenant={}\"",
            w.bob_tenant
        )),
        "{html}"
    );
    assert!(html.contains(&format!("<option value=\"{}\" selected", w.bob_tenant)));

    let url = app.url(&format!(
        "/admin/audit.csv?tenant={}&action=pair.created",
        w.bob_tenant
    ));
    let (status, ct, csv) = page(&client, &cookie, url).await;
    assert_eq!(status, 200, "{csv}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "at,tenant_id,actor_email,action,target,detail,id");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains(&w.bob_tenant) && lines[1].contains(&w.bob_pair));

    let url = app.url("/admin/audit?tenant=ten_nobody");
    let (status, _, html) = page(&client, &cookie, url).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("id=\"audit-tenant-error\""), "{html}");
}
