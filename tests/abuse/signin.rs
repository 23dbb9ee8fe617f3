//! Sign-in and sign-up as an attacker uses them: guessing one account's
//! password from one address or from many, and signing up in a flood. The
//! throttles must slow the attacker without locking the owner out, and say
//! when to retry. The server sees only the socket's address, so each "host"
//! here is a client bound to its own loopback address.
//!
//! Then API tokens as a leaked one would be used: past its expiry, or after
//! revocation in another process sharing the database.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{self, PASSWORD};

fn host(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, last]))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// `POST /api/v1/auth/token` from `client`: status, Retry-After, body.
async fn sign_in(
    app: &common::TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let r = client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sign-in answered");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

async fn web_sign_in(
    app: &common::TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> (u16, Option<String>, String) {
    let r = client
        .post(app.url("/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("sign-in form answered");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    (status, retry, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn guessing_from_one_address_throttles_that_address_and_not_the_owner_elsewhere() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Target").await;
    let attacker = host(2);
    for i in 0..5 {
        let (status, _, _) = sign_in(&app, &attacker, &email, "wrong password!").await;
        assert_eq!(status, 401, "guess {i} is refused as a wrong password");
    }
    let (status, retry, body) = sign_in(&app, &attacker, &email, "wrong password!").await;
    assert_eq!(status, 429, "{body}");
    let retry = retry.expect("a Retry-After header");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        body["error"]["message"],
        format!("Too many sign-in attempts; try again in {retry} s")
    );
    // Even the right password waits at the attacker's address …
    let (status, _, _) = sign_in(&app, &attacker, &email, PASSWORD).await;
    assert_eq!(status, 429);
    // … while the owner, elsewhere, signs in at once.
    let (status, _, body) = sign_in(&app, &host(3), &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("cct_"))
    );
    // The backoff doubles: after waiting it out, one more failure means a longer wait.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    let (status, _, _) = sign_in(&app, &attacker, &email, "wrong password!").await;
    assert_eq!(status, 401);
    let (status, second, _) = sign_in(&app, &attacker, &email, "wrong password!").await;
    assert_eq!(status, 429);
    assert!(second.expect("Retry-After") >= 2, "{second:?}");
}

#[tokio::test]
async fn an_attack_from_many_addresses_slows_the_account_but_the_owner_still_signs_in() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Target").await;
    // Twenty failures from four addresses: the account is under attack.
    for last in 10..14 {
        let attacker = host(last);
        for _ in 0..5 {
            let (status, _, _) = sign_in(&app, &attacker, &email, "wrong password!").await;
            assert_eq!(status, 401);
        }
    }
    // A fresh attacking address gets one slowed guess, then must back off.
    let fresh = host(14);
    let started = Instant::now();
    let (status, _, _) = sign_in(&app, &fresh, &email, "wrong password!").await;
    assert_eq!(status, 401);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "a guess on an account under attack is slowed ({:?})",
        started.elapsed()
    );
    let (status, retry, _) = sign_in(&app, &fresh, &email, "wrong password!").await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
    // The owner, from an address with no failures, is slowed but let in.
    let started = Instant::now();
    let (status, _, body) = sign_in(&app, &host(20), &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the owner waited {:?}",
        started.elapsed()
    );
    // And so through the web form.
    let (status, _, page) = web_sign_in(&app, &host(21), &email, PASSWORD).await;
    assert_eq!(status, 303, "{page}");
}

#[tokio::test]
async fn the_sign_in_page_says_when_to_retry_and_answers_429() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Target").await;
    let attacker = host(30);
    for _ in 0..5 {
        let (status, _, page) = web_sign_in(&app, &attacker, &email, "wrong password!").await;
        assert_eq!(status, 200);
        assert!(page.contains("Email or password is wrong."), "{page}");
    }
    let (status, retry, page) = web_sign_in(&app, &attacker, &email, "wrong password!").await;
    assert_eq!(status, 429);
    let retry = retry.expect("a Retry-After header");
    assert!(page.contains("<form"), "an HTML page, not JSON: {page}");
    assert!(
        page.contains(&format!(
            "Too many sign-in attempts; try again in {retry} s"
        )),
        "{page}"
    );
    // The API counts the same failures: it refuses this address too.
    let (status, _, _) = sign_in(&app, &attacker, &email, PASSWORD).await;
    assert_eq!(status, 429);
    let (status, _, page) = web_sign_in(&app, &host(31), &email, PASSWORD).await;
    assert_eq!(status, 303, "{page}");
}

#[tokio::test]
async fn a_sign_up_flood_from_one_address_is_refused_with_retry_after() {
    let (env, dir) = common::fresh_env(&[("CONNECT_SIGNUPS_PER_HOUR", "3")]).await;
    let app = common::start(env, dir).await;
    let flood = host(40);
    let sign_up = |client: &reqwest::Client, n: usize| {
        client
            .post(app.url("/api/v1/signup"))
            .json(&json!({
                "company": format!("Flood {n}"),
                "email": format!("flood-{n}-{}@example.com", uuid::Uuid::now_v7().simple()),
                "password": PASSWORD,
            }))
            .send()
    };
    for n in 0..3 {
        let r = sign_up(&flood, n).await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let r = sign_up(&flood, 3).await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        body["error"]["message"],
        format!(
            "Too many sign-ups from this address; try again in {} min",
            retry.div_ceil(60)
        )
    );
    // The web form is throttled by the same count, on the page.
    let r = flood
        .post(app.url("/signup"))
        .form(&[
            ("company", "Flood web"),
            ("email", "flood-web@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Too many sign-ups from this address; try again in"),
        "{page}"
    );
    // Another address signs up as usual.
    let r = sign_up(&host(41), 4).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

async fn new_token(app: &common::TestApp, email: &str, extra: Value) -> Value {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.call("POST", "/api/v1/auth/token", None, Some(body), 200)
        .await
}

fn listed<'a>(tokens: &'a Value, id: &Value) -> &'a Value {
    tokens
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["id"] == *id)
        .expect("the token is listed")
}

#[tokio::test]
async fn an_expired_token_is_refused_with_a_401_that_says_it_expired() {
    let app = common::spawn_app().await;
    let (email, owner) = app.owner("Expiring").await;
    let t = new_token(&app, &email, json!({"expires_in_days": 7})).await;
    let token = t["token"].as_str().unwrap();
    let expires = t["expires_at"].as_i64().expect("expires_at in the answer");
    let week = 7 * 24 * 3600 * 1000;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    assert!((expires - now - week).abs() < 60_000, "{expires}");
    app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    assert_eq!(listed(&tokens, &t["id"])["expires_at"], expires);
    // A week later (moved in the database rather than waited for).
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(now - 1000)
        .bind(t["id"].as_str().unwrap())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let refused = app.call("GET", "/api/v1/me", Some(token), None, 401).await;
    assert_eq!(refused["error"]["code"], "token_expired");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("this API token expired at "),
        "{message}"
    );
    // Tokens without an expiry keep working, and say so.
    app.call("GET", "/api/v1/me", Some(&owner), None, 200).await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["expires_at"].is_null())
    );
}

#[tokio::test]
async fn an_expiry_out_of_range_is_refused_naming_the_field() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Bad expiry").await;
    for days in [json!(0), json!(-1), json!(3651)] {
        let body = json!({"email": email, "password": PASSWORD, "expires_in_days": days});
        let e = app
            .call("POST", "/api/v1/auth/token", None, Some(body), 422)
            .await;
        assert_eq!(e["error"]["field"], "expires_in_days", "{days}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("between 1 and 3650"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn last_use_is_recorded_but_written_at_most_once_a_minute() {
    let app = common::spawn_app().await;
    let (email, owner) = app.owner("Busy script").await;
    let t = new_token(&app, &email, json!({"name": "script"})).await;
    let token = t["token"].as_str().unwrap();
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    assert!(
        listed(&tokens, &t["id"])["last_used_at"].is_null(),
        "unused yet"
    );
    app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    let first = listed(&tokens, &t["id"])["last_used_at"]
        .as_i64()
        .expect("last_used_at after a use");
    // Pretend the first use was 30 s ago: a use now is within the minute
    // and writes nothing.
    let id = t["id"].as_str().unwrap();
    let set = |at: i64| {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(app.state.db.pool())
    };
    set(first - 30_000).await.unwrap();
    app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    assert_eq!(listed(&tokens, &t["id"])["last_used_at"], first - 30_000);
    // Two minutes ago: the next use records itself.
    set(first - 120_000).await.unwrap();
    app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    let tokens = app
        .call("GET", "/api/v1/tokens", Some(&owner), None, 200)
        .await;
    assert!(listed(&tokens, &t["id"])["last_used_at"].as_i64().unwrap() >= first);
}

#[tokio::test]
async fn the_tokens_page_sets_an_expiry_and_shows_it_with_the_last_use() {
    let app = common::spawn_app().await;
    let (email, _) = app.owner("Web tokens").await;
    let web = common::WebSession::sign_in(&app, &email).await;
    let (status, page) = web
        .post(
            &app,
            "/tokens",
            &[("name", "nightly"), ("expires_in_days", "0")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Expires in: must be between 1 and 3650 days"),
        "{page}"
    );
    let (status, _) = web
        .post(
            &app,
            "/tokens",
            &[("name", "nightly"), ("expires_in_days", "30")],
        )
        .await;
    assert!(status == 200 || status == 303, "{status}");
    let (_, page) = web.get(&app, "/tokens").await;
    let row = page
        .split("<tr>")
        .find(|r| r.contains("nightly"))
        .expect("the new token's row");
    let in_30_days = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let date = format!(
        "{:04}-{:02}-{:02}",
        in_30_days.year(),
        u8::from(in_30_days.month()),
        in_30_days.day()
    );
    assert!(row.contains(&date), "expiry {date} shown: {row}");
    assert!(page.contains("<th>Last used</th>") && page.contains("<th>Expires</th>"));
}

#[tokio::test]
async fn a_token_revoked_in_one_process_is_refused_by_another_at_once() {
    let app = common::spawn_app().await;
    // A second server process on the same database (web only).
    let (other, second) = common::launch_with(
        &["serve", "--no-workers"],
        &app.env,
        "warn",
        common::Output::Null,
        std::process::Stdio::inherit(),
    )
    .await;
    let _other = KillOnDrop(other);
    second.wait_ready().await;
    let (email, owner) = app.owner("Two processes").await;
    let t = new_token(&app, &email, json!({"name": "leaked"})).await;
    let token = t["token"].as_str().unwrap();
    // Both processes accept it (and have had every chance to remember it).
    for _ in 0..3 {
        second
            .call("GET", "/api/v1/me", Some(token), None, 200)
            .await;
        app.call("GET", "/api/v1/me", Some(token), None, 200).await;
    }
    let id = t["id"].as_str().unwrap();
    app.call(
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        Some(&owner),
        None,
        204,
    )
    .await;
    let refused = second
        .call("GET", "/api/v1/me", Some(token), None, 401)
        .await;
    assert_eq!(refused["error"]["code"], "unauthorized");
    app.call("GET", "/api/v1/me", Some(token), None, 401).await;
    // Revoking from the second process holds in the first as well.
    let t2 = new_token(&app, &email, json!({"name": "second"})).await;
    let token2 = t2["token"].as_str().unwrap();
    app.call("GET", "/api/v1/me", Some(token2), None, 200).await;
    let id2 = t2["id"].as_str().unwrap();
    second
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id2}"),
            Some(&owner),
            None,
            204,
        )
        .await;
    app.call("GET", "/api/v1/me", Some(token2), None, 401).await;
}

/// The second process ends with the test, even one that fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
