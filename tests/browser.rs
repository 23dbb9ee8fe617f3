//! The web UI in a real browser (Debian's chromium through chromedriver, spoken
//! to over the W3C WebDriver protocol): sign up, create a sandbox pair, send
//! orders, watch them succeed. Fails loudly when chromedriver is missing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let driver_bin =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver_bin} is required for browser tests (apt-get install chromium chromium-driver): {e}"));
        connect_jobs::connectors::http::install_crypto_provider();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1400", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {resp}"))
            .to_owned();
        Browser {
            http,
            base,
            session,
            driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let req = self.http.request(method.parse().unwrap(), url);
        let req = if method == "GET" {
            req
        } else {
            req.json(&body)
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    async fn source(&self) -> String {
        self.cmd("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks and waits until the browser has left `from` (a form post and its redirect).
    async fn submit(&self, css: &str) {
        let from = self.url().await;
        self.click(css).await;
        self.wait_until(|page, url| {
            url != from || page.contains("role=\"alert\"") || page.contains("field-error")
        })
        .await;
    }

    /// Polls the page until `check(source, url)` holds, for at most 20 s.
    async fn wait_until(&self, check: impl Fn(&str, &str) -> bool) {
        let start = Instant::now();
        loop {
            let (page, url) = (self.source().await, self.url().await);
            if check(&page, &url) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "page did not change: {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{e}/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG of the viewport under `target/screenshots/` for a person to look at.
    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    async fn attribute(&self, css: &str, name: &str) -> String {
        let e = self.find(css).await;
        self.cmd(
            "GET",
            &format!("/element/{e}/attribute/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn url(&self) -> String {
        self.cmd("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The pair page's address without a query string or fragment.
fn pair_url_of(url: &str) -> String {
    url.split(['?', '#']).next().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_user_signs_up_and_watches_sandbox_orders_arrive() {
    let app = common::spawn_app().await;
    let b = Browser::start().await;

    // A refused sign-up keeps the input and puts the error beside the field.
    b.goto(&app.url("/signup")).await;
    b.fill("input[name=company]", "Browser Co").await;
    b.fill("input[name=email]", "web@browser.test").await;
    b.fill("input[name=password]", "short").await;
    b.click("form button").await;
    b.wait_until(|page, _| page.contains("field-error")).await;
    let page = b.source().await;
    assert!(
        page.contains("field-error") && page.contains("at least 10 characters"),
        "{page}"
    );
    assert!(page.contains("value=\"Browser Co\""), "company kept");

    b.fill("input[name=password]", common::PASSWORD).await;
    // The refused page already shows an error, so wait for the new page itself.
    // A new account starts in the setup wizard; this user skips it.
    b.click("form button").await;
    b.wait_until(|_, url| url.ends_with("/welcome")).await;
    b.click("form[action='/welcome/skip'] button").await;
    b.wait_until(|_, url| url.ends_with("/pairs")).await;

    b.fill("input[name=name]", "Demo store").await;
    b.submit("form.card button").await;
    let pair_url = pair_url_of(&b.url().await);
    assert!(pair_url.contains("/pairs/pair_"), "{pair_url}");
    let page = b.source().await;
    assert!(page.contains("Demo store") && page.contains("sandbox"));
    assert!(
        page.contains("saved — leave blank to keep") && page.contains("badge ok\">connected"),
        "secrets are shown as saved, never filled in: {page}"
    );
    b.screenshot("pair-created").await;

    // A connection form refuses a bad URL beside the field and keeps what was typed.
    let clarity_form = "form[action$='/connections/clarity']";
    b.fill(&format!("{clarity_form} input[name=base_url]"), "not a url")
        .await;
    b.click(&format!("{clarity_form} button:not(.secondary)"))
        .await;
    b.wait_until(|page, _| page.contains("field-error")).await;
    let page = b.source().await;
    assert!(
        page.contains("aria-invalid=\"true\"") && page.contains("value=\"not a url\""),
        "the error sits beside base_url and the input is kept: {page}"
    );
    b.screenshot("connection-error").await;
    b.goto(&pair_url).await;

    b.fill("input[name=count]", "3").await;
    b.submit("form.row button").await;
    assert!(
        b.source().await.contains("Sent 3 test orders"),
        "a notice confirms the orders"
    );
    let start = Instant::now();
    loop {
        b.goto(&pair_url).await;
        let page = b.source().await;
        if page.matches("badge succeeded").count() >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "orders did not show as succeeded: {page}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    b.screenshot("runs").await;

    // The simulators' faults: a refused value stays beside its field; a
    // scripted fault shows what is left of it; reset restores a healthy service.
    let faults_form = "form[action$='/sandbox-faults/clarity']";
    b.fill(&format!("{faults_form} input[name=latency_ms]"), "fast")
        .await;
    b.click(&format!("{faults_form} button:not(.secondary)"))
        .await;
    b.wait_until(|page, _| page.contains("field-error")).await;
    let page = b.source().await;
    assert!(
        page.contains("is not a whole number") && page.contains("value=\"fast\""),
        "{page}"
    );
    b.goto(&pair_url).await;
    b.fill(&format!("{faults_form} input[name=script_count]"), "2")
        .await;
    b.click(&format!("{faults_form} option[value=unavailable]"))
        .await;
    b.fill(&format!("{faults_form} input[name=error_rate]"), "25")
        .await;
    b.submit(&format!("{faults_form} button:not(.secondary)"))
        .await;
    let page = b.source().await;
    assert!(
        page.contains("simulator faults saved") && page.contains("2 × unavailable"),
        "{page}"
    );
    b.screenshot("sandbox-faults").await;
    b.goto(&pair_url).await;
    b.submit(&format!("{faults_form} button.secondary")).await;
    let page = b.source().await;
    assert!(
        page.contains("simulator faults saved") && !page.contains("still to come"),
        "{page}"
    );

    // An API token is shown once, then only by its prefix.
    b.goto(&app.url("/tokens")).await;
    b.fill("input[name=name]", "reporting").await;
    b.click("form.card button").await;
    b.wait_until(|page, _| page.contains("new-token")).await;
    let token = b.text("#new-token").await;
    assert!(token.len() > 20, "a token is shown once: {token}");
    b.goto(&app.url("/tokens")).await;
    let page = b.source().await;
    assert!(
        page.contains("reporting") && !page.contains(&token),
        "{page}"
    );

    b.goto(&app.url("/usage")).await;
    let page = b.source().await;
    assert!(
        page.contains("Trial") && page.contains("Transactions this month"),
        "{page}"
    );

    b.screenshot("usage").await;
    b.submit("header form button").await;
    assert!(b.url().await.ends_with("/login"));
    b.goto(&app.url("/pairs")).await;
    assert!(
        b.url().await.ends_with("/login"),
        "signed out: pages redirect to the login"
    );
    app.stop().await;
}

/// The mapping editor: edit a rule and see the preview change, have a bad
/// rule refused beside its row (and flagged while typing), compare two
/// versions, and restore the first one.
#[tokio::test]
async fn a_user_edits_a_mapping_rule_sees_the_preview_and_restores_a_version() {
    let app = common::spawn_app().await;
    let b = Browser::start().await;
    b.goto(&app.url("/signup")).await;
    b.fill("input[name=company]", "Mapping Co").await;
    b.fill("input[name=email]", "mapper@browser.test").await;
    b.fill("input[name=password]", common::PASSWORD).await;
    b.click("form button").await;
    b.wait_until(|_, url| url.ends_with("/welcome")).await;
    b.goto(&app.url("/pairs")).await;
    b.fill("input[name=name]", "Mapped store").await;
    b.submit("form.card button").await;
    let pair_url = pair_url_of(&b.url().await);
    b.fill("input[name=count]", "2").await;
    b.submit("form.row button").await;

    b.click("a[href$='/templates/orders']").await;
    b.wait_until(|page, _| page.contains("id=\"rules\"")).await;
    let editor = pair_url_of(&b.url().await);
    assert_eq!(editor, format!("{pair_url}/templates/orders"));
    // The preview beside the rules maps the simulator's orders.
    let start = Instant::now();
    loop {
        let page = b.source().await;
        if page.contains("preview-result") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no preview results: {page}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.goto(&editor).await;
    }
    let page = b.source().await;
    assert!(
        page.contains("Clarity order CO-"),
        "the output column shows the mapped message"
    );

    // Edit the `message` rule in its row and save it.
    let row = b
        .attribute("input[data-rule-target][value=message]", "id")
        .await;
    let index = row.trim_start_matches("target-").to_owned();
    b.fill(&format!("#text-{index}"), "Web order {orderId}")
        .await;
    b.submit(&format!("#rule-form-{index} button:not(.secondary)"))
        .await;
    let page = b.source().await;
    assert!(page.contains("Rule saved as version 2"), "{page}");
    assert!(
        page.contains("Web order CO-") && !page.contains("Clarity order CO-"),
        "the preview shows the edited rule's output"
    );
    b.screenshot("mapping-editor").await;

    // While typing, a rule that does not compile is flagged beside its row…
    b.fill("#target-new", "externalid").await;
    b.click("#kind-new option[value=expr]").await;
    b.fill("#text-new", ".orderId |||").await;
    b.wait_until(|page, _| page.contains("class=\"bad\"")).await;
    // …and a rule naming a field the ERP lacks is refused, beside the row.
    b.fill("#target-new", "custmerid").await;
    b.click("#kind-new option[value=source]").await;
    b.fill("#text-new", "customerId").await;
    b.submit("#new-rule-form button").await;
    let page = b.source().await;
    assert!(
        page.contains("<title>Error:") && page.contains("did you mean `customerid`"),
        "{page}"
    );
    assert!(
        page.contains("value=\"custmerid\""),
        "what was typed is kept"
    );
    b.screenshot("mapping-editor-refused").await;

    // Compare v1 and v2, then restore v1.
    b.goto(&format!("{editor}?from=1&to=2")).await;
    let page = b.source().await;
    assert!(
        page.contains("Changes from v1 to v2") && page.contains("Web order {orderId}"),
        "{page}"
    );
    b.submit("form[action$='/versions/1/restore'] button").await;
    let page = b.source().await;
    assert!(page.contains("Restored as version 3"), "{page}");
    assert_eq!(
        b.attribute(&format!("#text-{index}"), "value").await,
        "Clarity order {orderId}"
    );
    assert!(b.source().await.contains("Clarity order CO-"));
    b.screenshot("mapping-editor-restored").await;
    b.goto(&format!("{editor}#suggestions")).await;
    b.screenshot("mapping-editor-suggestions").await;
    app.stop().await;
}

/// The onboarding wizard end to end, with a screenshot of each step: a new
/// user signs up, picks "Try it in the sandbox", tests both connections,
/// looks at the flows and the preview, and sees the first sample order in the
/// ERP simulator. The target: within 60 s of submitting the sign-up
/// form (the figure is printed and recorded in docs/benchmarks.md).
#[tokio::test]
async fn a_new_user_is_walked_through_setup_and_sees_a_sandbox_order_in_the_erp_within_a_minute() {
    let app = common::spawn_app().await;
    let b = Browser::start().await;
    b.goto(&app.url("/signup")).await;
    b.fill("input[name=company]", "Wizard Co").await;
    b.fill("input[name=email]", "wizard@browser.test").await;
    b.fill("input[name=password]", common::PASSWORD).await;
    let signed_up = Instant::now();
    b.click("form button").await;
    b.wait_until(|_, url| url.ends_with("/welcome")).await;
    b.screenshot("wizard-1-company").await;

    b.fill("input[name=company]", "Wizard Company Ltd").await;
    b.submit("form.card button").await;
    assert!(b.url().await.contains("step=start"));
    b.screenshot("wizard-2-start").await;

    // One click: a sandbox pair and 5 sample orders.
    b.submit("form.card button").await;
    assert!(
        b.url().await.contains("step=clarity"),
        "{}",
        b.source().await
    );
    b.screenshot("wizard-3-clarity").await;
    b.submit("button[value=test]").await;
    b.wait_until(|page, _| page.contains("test passed")).await;
    b.submit("button[value=next]").await;
    assert!(b.url().await.contains("step=erp"));
    b.submit("button[value=test]").await;
    b.wait_until(|page, _| page.contains("test passed")).await;
    b.screenshot("wizard-4-erp").await;
    b.submit("button[value=next]").await;
    assert!(b.url().await.contains("step=flows"));
    let page = b.source().await;
    assert!(
        page.contains("name=\"flow\"") && page.contains("inventory"),
        "{page}"
    );
    b.screenshot("wizard-5-flows").await;
    b.submit("form.card button").await;
    assert!(b.url().await.contains("step=live"));

    let first_order = loop {
        let page = b.source().await;
        let n: usize = b.text("#orders-in-erp strong").await.parse().unwrap_or(0);
        if n >= 1 {
            break signed_up.elapsed();
        }
        assert!(
            signed_up.elapsed() < Duration::from_secs(60),
            "no sample order reached the ERP within 60 s of sign-up: {page}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        b.goto(&app.url("/welcome?step=live")).await;
    };
    println!(
        "first sandbox order in the ERP simulator {:.1} s after the sign-up form",
        first_order.as_secs_f64()
    );
    assert!(first_order < Duration::from_secs(60));
    b.screenshot("wizard-6-live").await;
    b.submit("form[action='/welcome/live'] button").await;
    assert!(b.url().await.contains("/pairs/pair_"), "{}", b.url().await);
    b.goto(&app.url("/pairs")).await;
    assert!(
        !b.source().await.contains("Continue setup"),
        "setup is done"
    );
    app.stop().await;
}
