//! Sign-in and sign-up as an attacker uses them: guessing one account's
//! password from one address or from many, and signing up in a flood. The
//! throttles must slow the attacker without locking the owner out, and say
//! when to retry. The server sees only the socket's address, so each "host"
//! here is a client bound to its own loopback address.

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
    assert!(body["token"].as_str().is_some_and(|t| t.starts_with("cct_")));
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
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
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
