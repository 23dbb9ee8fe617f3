//! Input sized or nested to take the process down: an expression nested past
//! what jaq's recursive parser can take overflowed the stack of a tokio worker
//! and aborted the whole server. Tried against the real binary, since an
//! overflow in this process would abort the test itself.

use std::process::{Child, Stdio};

use serde_json::json;

use super::common;

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

/// The real binary, ready, on a fresh database kept in the folder returned.
async fn launched() -> (Server, common::Api, tempfile::TempDir) {
    let (env, dir) = common::fresh_env(&[]).await;
    let (child, api) = common::launch(&env, "warn", common::Output::Null, Stdio::null()).await;
    let server = Server(child);
    api.wait_ready().await;
    (server, api, dir)
}

#[tokio::test]
async fn an_expression_nested_800_deep_is_refused_and_the_server_lives_on() {
    let (mut server, api, _dir) = launched().await;
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

/// The deepest values a program can build within its step budget, formatted,
/// compared, merged, raised as an error and dropped: each a recursive walk in
/// jaq, once per level. The binary's threads have the stack for it.
#[tokio::test]
async fn values_as_deep_as_the_step_budget_allows_do_not_take_the_server_down() {
    let (mut server, api, _dir) = launched().await;
    let token = api.tenant("Deeper Co").await;
    let pair = api.sandbox_pair(&token, "intacct").await;
    let path = format!("/api/v1/pairs/{pair}/templates/orders");
    let original = api.call("GET", &path, Some(&token), None, 200).await["document"].clone();
    // Deep enough that a recursive walk overflows a 2 MiB stack many times
    // over (a debug build's frames hold a few thousand levels), shallow
    // enough to finish well within the 250 ms budget of a debug build on a
    // busy two-core machine: 60,000 levels took 200–260 ms there and failed
    // two CI runs in three.
    let deep = "reduce range(30000) as $i (null; [.])";
    for (program, finishes) in [
        (format!("{deep} | tojson | length"), true),
        (format!("{deep} | . == ."), true),
        (format!("{deep} | error"), true),
        (format!("{deep} | [.] | sort | length"), true),
        (
            "reduce range(30000) as $i ({}; {a: .}) | . * . | length".to_owned(),
            true,
        ),
        // Stopped by its budget with a deep value half built.
        ("reduce range(1000000) as $i (null; [.])".to_owned(), false),
    ] {
        let mut doc = original.clone();
        // First, so no earlier rule's complaint about the record stops it.
        let target = doc["rules"][0]["target"].clone();
        doc["rules"][0] = json!({"target": target.clone(), "expr": program});
        api.call("PUT", &path, Some(&token), Some(doc), 200).await;
        let preview = api
            .call(
                "POST",
                &format!("{path}/preview"),
                Some(&token),
                Some(json!({"records": [{"orderId": "CO-1", "lineItems": []}]})),
                200,
            )
            .await;
        server.assert_alive(&program);
        let on_rule: Vec<String> = preview["results"][0]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["field"] == target)
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        let stopped = on_rule.iter().any(|m| m.contains("expression stopped"));
        assert_eq!(stopped, !finishes, "{program}: {on_rule:?}");
        if program.ends_with("error") {
            assert!(
                on_rule
                    .iter()
                    .any(|m| m.ends_with("(cut at 500 characters)")),
                "a raised value is cut short: {on_rule:?}"
            );
        }
    }
    let health = api
        .client
        .get(api.url("/healthz"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(health.status().as_u16(), 200);
}
