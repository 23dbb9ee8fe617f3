//! The team: invitations by e-mail (single use, expiring), roles enforced
//! on the API, ownership handed on, removal, password resets that do not
//! tell who has an account. Mail goes to the outbox (no SMTP configured),
//! read here through the operators' API as a support engineer would.

mod common;

use serde_json::{Value, json};

use common::{PASSWORD, TestApp, spawn_app};

/// The newest outbox mail to `to`, and the token its link carries.
async fn mail_to(app: &TestApp, op: &str, to: &str) -> (Value, String) {
    let outbox = app
        .call("GET", "/api/v1/admin/outbox", Some(op), None, 200)
        .await;
    let mail = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == to)
        .unwrap_or_else(|| panic!("no mail to {to}: {outbox}"))
        .clone();
    let text = mail["text"].as_str().unwrap();
    let token = text
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    assert!(
        mail["html"].as_str().unwrap().contains(&token),
        "the HTML part carries the same link"
    );
    (mail, token)
}

/// Invites `email` as `role` and takes the invitation up: the new user's token.
async fn join(app: &TestApp, op: &str, owner: &str, email: &str, role: &str) -> String {
    let invite = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(owner),
            Some(json!({"email": email, "role": role})),
            201,
        )
        .await;
    assert!(
        invite["id"].is_string() && invite["expires_at"].is_i64(),
        "{invite}"
    );
    let (_, token) = mail_to(app, op, email).await;
    let joined = app
        .call(
            "POST",
            "/api/v1/invites/accept",
            None,
            Some(json!({"token": token, "password": PASSWORD})),
            201,
        )
        .await;
    assert_eq!(joined["role"], role);
    // The link works once.
    let again = app
        .call(
            "POST",
            "/api/v1/invites/accept",
            None,
            Some(json!({"token": token, "password": PASSWORD})),
            422,
        )
        .await;
    assert_eq!(again["error"]["field"], "token");
    joined["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_invited_member_operates_pairs_but_changes_no_configuration() {
    let app = spawn_app().await;
    let op = app.operator("team-op@platform.test").await;
    let owner = app.tenant("Team Co").await;
    let pair = app.sandbox_pair(&owner, "intacct").await;
    let member = join(&app, &op, &owner, "mia@team.test", "member").await;
    let me = app
        .call("GET", "/api/v1/me", Some(&member), None, 200)
        .await;
    assert_eq!(me["role"], "member");
    assert_eq!(me["email"], "mia@team.test");

    // Operating the pair: allowed.
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/pause"),
        Some(&member),
        None,
        200,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/activate"),
        Some(&member),
        None,
        200,
    )
    .await;
    // Connections, templates, billing, the team: refused.
    for (method, path, body) in [
        (
            "PUT",
            format!("/api/v1/pairs/{pair}/connections/sagepro"),
            json!({"base_url": "https://sagepro.example.com/api/v1/sagepro", "credentials": {"api_key": "k"}}),
        ),
        (
            "PUT",
            format!("/api/v1/pairs/{pair}/templates/orders"),
            json!({}),
        ),
        ("PUT", "/api/v1/plan".to_owned(), json!({"plan": "connect"})),
        (
            "POST",
            "/api/v1/users/invites".to_owned(),
            json!({"email": "x@team.test", "role": "member"}),
        ),
    ] {
        let e = app
            .call(method, &path, Some(&member), Some(body), 403)
            .await;
        assert_eq!(e["error"]["code"], "forbidden", "{method} {path}: {e}");
    }
    let users = app
        .call("GET", "/api/v1/users", Some(&member), None, 200)
        .await;
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    app.stop().await;
}

#[tokio::test]
async fn a_read_only_user_sees_everything_and_changes_nothing() {
    let app = spawn_app().await;
    let op = app.operator("ro-op@platform.test").await;
    let owner = app.tenant("Look Co").await;
    let pair = app.sandbox_pair(&owner, "sagepro").await;
    let viewer = join(&app, &op, &owner, "vic@look.test", "read_only").await;
    for path in [
        "/api/v1/pairs".to_owned(),
        format!("/api/v1/pairs/{pair}"),
        format!("/api/v1/pairs/{pair}/runs"),
        format!("/api/v1/pairs/{pair}/flows"),
        "/api/v1/usage".to_owned(),
        "/api/v1/subscription".to_owned(),
    ] {
        app.call("GET", &path, Some(&viewer), None, 200).await;
    }
    for (method, path) in [
        ("POST", format!("/api/v1/pairs/{pair}/pause")),
        ("POST", format!("/api/v1/pairs/{pair}/sandbox/orders")),
        ("PUT", format!("/api/v1/pairs/{pair}/flows/inventory")),
        ("POST", "/api/v1/pairs".to_owned()),
    ] {
        let e = app
            .call(method, &path, Some(&viewer), Some(json!({})), 403)
            .await;
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{method} {path}: {e}"
        );
    }
    let pair_now = app
        .call(
            "GET",
            &format!("/api/v1/pairs/{pair}"),
            Some(&owner),
            None,
            200,
        )
        .await;
    assert_eq!(pair_now["status"], "active", "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn invitations_hold_seats_ownership_is_handed_on_and_a_removed_user_is_locked_out() {
    let app = spawn_app().await;
    let op = app.operator("seats-op@platform.test").await;
    let owner = app.tenant("Seats Co").await;
    let admin = join(&app, &op, &owner, "ada@seats.test", "admin").await;
    // Trial: 3 users. Owner + Ada + one open invitation fill it.
    app.call(
        "POST",
        "/api/v1/users/invites",
        Some(&admin),
        Some(json!({"email": "bo@seats.test", "role": "member"})),
        201,
    )
    .await;
    let e = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(&admin),
            Some(json!({"email": "cy@seats.test", "role": "member"})),
            403,
        )
        .await;
    assert_eq!(e["error"]["code"], "plan_limit");
    assert_eq!(e["error"]["field"], "email");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Your Trial plan includes 3 users."),
        "{e}"
    );
    let e = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(&owner),
            Some(json!({"email": "ada@seats.test", "role": "member"})),
            409,
        )
        .await;
    assert_eq!(e["error"]["field"], "email");
    let e = app
        .call(
            "POST",
            "/api/v1/users/invites",
            Some(&owner),
            Some(json!({"email": "dee@seats.test", "role": "superuser"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "role");

    let users = app
        .call("GET", "/api/v1/users", Some(&owner), None, 200)
        .await;
    let id_of = |email: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ada = id_of("ada@seats.test");
    let owner_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An admin cannot demote the owner nor take ownership.
    app.call(
        "PUT",
        &format!("/api/v1/users/{owner_id}"),
        Some(&admin),
        Some(json!({"role": "member"})),
        409,
    )
    .await;
    app.call(
        "PUT",
        &format!("/api/v1/users/{ada}"),
        Some(&admin),
        Some(json!({"role": "owner"})),
        403,
    )
    .await;
    // The owner hands ownership on and becomes an admin.
    let now_owner = app
        .call(
            "PUT",
            &format!("/api/v1/users/{ada}"),
            Some(&owner),
            Some(json!({"role": "owner"})),
            200,
        )
        .await;
    assert_eq!(now_owner["role"], "owner");
    let me = app.call("GET", "/api/v1/me", Some(&owner), None, 200).await;
    assert_eq!(me["role"], "admin");
    app.call(
        "PUT",
        "/api/v1/plan",
        Some(&owner),
        Some(json!({"plan": "connect"})),
        403,
    )
    .await;
    app.call(
        "PUT",
        "/api/v1/plan",
        Some(&admin),
        Some(json!({"plan": "connect"})),
        200,
    )
    .await;
    // The new owner removes the old one; their token stops working at once.
    app.call(
        "DELETE",
        &format!("/api/v1/users/{owner_id}"),
        Some(&admin),
        None,
        204,
    )
    .await;
    app.call("GET", "/api/v1/me", Some(&owner), None, 401).await;
    let users = app
        .call("GET", "/api/v1/users", Some(&admin), None, 200)
        .await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    // Another tenant's user id is not found here.
    let other = app.tenant("Other Co").await;
    app.call(
        "DELETE",
        &format!("/api/v1/users/{ada}"),
        Some(&other),
        None,
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_reset_does_not_say_who_has_an_account_and_its_link_works_once() {
    let app = spawn_app().await;
    let op = app.operator("reset-op@platform.test").await;
    let (email, token) = app.owner("Forgetful Co").await;
    for address in [email.as_str(), "nobody@nowhere.test"] {
        let r = app
            .call(
                "POST",
                "/api/v1/auth/password-reset",
                None,
                Some(json!({"email": address})),
                202,
            )
            .await;
        assert_eq!(r, Value::Null, "the same empty answer for {address}");
    }
    let outbox = app
        .call("GET", "/api/v1/admin/outbox", Some(&op), None, 200)
        .await;
    assert!(
        !outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["to"] == "nobody@nowhere.test"),
        "{outbox}"
    );
    let (mail, reset) = mail_to(&app, &op, &email).await;
    assert_eq!(mail["subject"], "Reset your Clarity Connect password");
    let e = app
        .call(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": reset, "password": "short"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "password");
    let new_password = "a new and long passphrase";
    app.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(json!({"token": reset, "password": new_password})),
        204,
    )
    .await;
    app.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(json!({"token": reset, "password": new_password})),
        422,
    )
    .await;
    app.call(
        "POST",
        "/api/v1/auth/token",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
        401,
    )
    .await;
    app.call(
        "POST",
        "/api/v1/auth/token",
        None,
        Some(json!({"email": email, "password": new_password})),
        200,
    )
    .await;
    // Changing it needs the current one.
    let e = app
        .call(
            "PUT",
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current_password": "wrong one entirely", "new_password": "yet another long one"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["field"], "current_password");
    app.call(
        "PUT",
        "/api/v1/me/password",
        Some(&token),
        Some(json!({"current_password": new_password, "new_password": "yet another long one"})),
        204,
    )
    .await;
    app.stop().await;
}

/// The pages the mails open: an invitation taken up in the browser signs
/// the new user in; a reset asked for in the browser answers the same for
/// every address.
#[tokio::test]
async fn the_team_pages_invite_and_the_mailed_link_signs_the_new_user_in() {
    let app = spawn_app().await;
    let op = app.operator("pages-op@platform.test").await;
    let (email, _) = app.owner("Paged Team Co").await;
    let web = common::WebSession::sign_in(&app, &email).await;
    let (status, _) = web
        .post(
            &app,
            "/team/invites",
            &[("email", "pia@paged.test"), ("role", "read_only")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, page) = web.get(&app, "/team").await;
    assert!(page.contains("pia@paged.test"), "{page}");
    let (mail, token) = mail_to(&app, &op, "pia@paged.test").await;
    let text = mail["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/invites/accept?token="))
        .unwrap();
    let path = &link[link.find("/invites").unwrap()..];
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains(&token), "the form carries the token");
    let joined = client
        .post(app.url("/invites/accept"))
        .form(&[("token", token.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status().as_u16(), 303);
    assert_eq!(joined.headers()["location"], "/pairs");
    assert!(joined.headers().contains_key("set-cookie"));
    // Taken up once; the page says so the second time.
    let again = client
        .post(app.url("/invites/accept"))
        .form(&[("token", token.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert!(again.text().await.unwrap().contains("not valid"));
    let sent = client
        .post(app.url("/password-reset"))
        .form(&[("email", "nobody@nowhere.test")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sent.contains("If an account exists for that address"),
        "{sent}"
    );
    app.stop().await;
}
