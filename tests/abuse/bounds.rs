//! Input sized or nested to take the process down: an expression nested past
//! what jaq's recursive parser can take overflowed the stack of a tokio worker
//! and aborted the whole server. Tried against the real binary, since an
//! overflow in this process would abort the test itself.

use std::process::{Child, Stdio};

use serde_json::json;

use super::common::{self, Api};

/// The launched server, killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Fails the test when the process has exited.
    fn assert_alive(&mut self, after: &str) {
        let status = self.0.try_wait().expect("query the server process");
        assert!(
            status.is_none(),
            "the server died after {after}: {status:?}"
        );
    }
}

#[tokio::test]
async fn an_expression_nested_800_deep_is_refused_and_the_server_lives_on() {
    let port = common::free_port();
    let (mut env, _dir) = common::fresh_env(&[]).await;
    env.insert("CONNECT_BIND".into(), format!("127.0.0.1:{port}"));
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    let mut server = Server(common::launch(&env, "warn", Stdio::null(), Stdio::null()));
    api.wait_ready().await;
    let token = api.tenant("Deep Co").await;
    let pair = api.sandbox_pair(&token, "intacct").await;
    let deep = format!("{}1{}", "(".repeat(800), ")".repeat(800));

    // The editor's inline check: the rule is wrong, and says where and why.
    let check = api
        .call(
            "POST",
            &format!("/api/v1/pairs/{pair}/templates/orders/check"),
            Some(&token),
            Some(json!({"rule": {"target": "customerid", "expr": deep}})),
            200,
        )
        .await;
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["field"], "expr", "{check}");
    let message = check["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("expression nests 801 levels deep; at most 64 are allowed"),
        "{check}"
    );
    server.assert_alive("the check");

    // Saving a template with it: 422 naming the rule and its key.
    let path = format!("/api/v1/pairs/{pair}/templates/orders");
    let mut doc = api.call("GET", &path, Some(&token), None, 200).await["document"].clone();
    let rules = doc["rules"].as_array_mut().expect("the template has rules");
    assert!(rules.len() > 3, "the pre-built template has a fourth rule");
    let target = rules[3]["target"].clone();
    rules[3] = json!({"target": target, "expr": deep});
    let refused = api.call("PUT", &path, Some(&token), Some(doc), 422).await;
    assert_eq!(refused["error"]["field"], "rules[3].expr", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expression nests 801 levels deep; at most 64 are allowed"),
        "{refused}"
    );
    server.assert_alive("the save");

    // Still serving, and nothing was saved.
    let health = api
        .client
        .get(api.url("/healthz"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(health.status().as_u16(), 200);
    let versions = api
        .call("GET", &format!("{path}/versions"), Some(&token), None, 200)
        .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
}
