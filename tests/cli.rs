//! The `connect` binary: configuration errors, key rotation.

mod common;

use std::process::{Command, Stdio};

fn connect() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_connect"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    c
}

#[test]
fn a_bad_setting_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("CONNECT_BIND", "not-an-address"),
        ("CONNECT_DATABASE_URL", "mysql://nope"),
        ("CONNECT_MASTER_KEY", "dG9vIHNob3J0"),
        ("CONNECT_REDIS_URL", "::::"),
    ] {
        let out = connect()
            .arg("serve")
            .env("CONNECT_DATA_DIR", dir.path())
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "stderr should name {var}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_port_in_use_exits_2_naming_the_bind_variable() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = connect()
        .arg("serve")
        .env("CONNECT_DATA_DIR", dir.path())
        .env("CONNECT_BIND", taken.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CONNECT_BIND"), "{err}");
}

/// Testing a connection decrypts its saved secrets and uses them for real.
async fn all_connections_work(app: &common::Api, token: &str, pair: &str) {
    for system in ["clarity", "sagepro"] {
        let r = app
            .call(
                "POST",
                &format!("/api/v1/pairs/{pair}/connections/{system}/test"),
                Some(token),
                None,
                200,
            )
            .await;
        assert_eq!(r["ok"], true, "{system}: {r}");
    }
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_credential_readable() {
    let (mut env, dir) = common::fresh_env(&[]).await;
    env.remove("CONNECT_MASTER_KEY");
    let key_file = dir.path().join("master.key");
    env.insert(
        "CONNECT_MASTER_KEY_FILE".into(),
        key_file.display().to_string(),
    );
    let first = connect::vault::KeyRing::generate();
    first.write_file(&key_file).unwrap();
    let app = common::start(env.clone(), dir).await;
    let token = app.tenant("Rotate Co").await;
    let pair = app.sandbox_pair(&token, "sagepro").await;
    // Testing a connection decrypts its saved secrets and uses them for real.
    all_connections_work(&app, &token, &pair).await;

    let out = connect()
        .arg("keys")
        .arg("rotate")
        .envs(&env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ring =
        connect::vault::KeyRing::parse(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    assert_eq!(ring.len(), 2, "the new key goes in front of the old one");
    assert_ne!(ring.current_id(), first.current_id());

    // The running process, which started with the old ring, still reads the
    // credentials (now wrapped by the new key) and so does a fresh one.
    all_connections_work(&app, &token, &pair).await;
    // The fresh one listens on another port: the built-in simulator
    // connections follow the process, they hold no address of their own.
    let (env, dir) = app.stop().await;
    let app = common::start(env, dir).await;
    all_connections_work(&app, &token, &pair).await;
    app.stop().await;
}

#[tokio::test]
async fn connect_sandbox_serves_the_simulators_alone_and_keeps_its_credentials() {
    use std::io::{BufRead, BufReader};
    // Port 0: the sandbox says where it listens, in its banner.
    let (env, _dir) = common::fresh_env(&[]).await;
    let start = |env: &std::collections::HashMap<String, String>| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_connect"))
            .arg("sandbox")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Everything up to the Sage Pro key line is the banner; the rest is
        // drained so the process never writes into a closed pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut banner = String::new();
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    banner.push_str(&line);
                    banner.push('\n');
                    if line.contains("X-API-Key") {
                        let _ = tx.send(std::mem::take(&mut banner));
                        sent = true;
                    }
                }
            }
        });
        let banner = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the sandbox prints its endpoints and credentials");
        (child, banner)
    };
    /// Stops the simulators even when an assertion fails first.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.kill().ok();
            let _ = self.0.wait();
        }
    }
    let (child, banner) = start(&env);
    let running = Running(child);
    let api_key = banner
        .lines()
        .find_map(|l| l.split("X-API-Key").nth(1))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no Sage Pro key in the banner:\n{banner}"));
    let sagepro = banner
        .split_whitespace()
        .find(|w| w.ends_with("/api/v1/sagepro"))
        .unwrap()
        .to_owned();
    connect_jobs::connectors::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let products: serde_json::Value = http
        .get(format!("{sagepro}/products?PageSize=5"))
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        products.to_string().contains("ItemCode"),
        "the seeded catalog is served: {products}"
    );
    // The Clarity control routes take the client printed in the banner.
    let client_line = banner
        .lines()
        .find(|l| l.trim_start().starts_with("client "))
        .unwrap_or_else(|| panic!("no Clarity client in the banner:\n{banner}"));
    let (client_id, client_secret) = client_line
        .trim_start()
        .trim_start_matches("client")
        .split_once(" / ")
        .map(|(i, s)| (i.trim().to_owned(), s.trim().to_owned()))
        .unwrap();
    let control = banner
        .split_whitespace()
        .find(|w| w.ends_with("/__sim/orders"))
        .unwrap_or_else(|| panic!("no control route in the banner:\n{banner}"))
        .to_owned();
    let order = serde_json::json!({"count": 1});
    let anonymous = http.post(&control).json(&order).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let placed = http
        .post(&control)
        .basic_auth(&client_id, Some(&client_secret))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status().as_u16(), 201);
    // The API of the product itself is not served in this mode.
    let r = http
        .get(format!("{}/api/v1/pairs", base_of(&sagepro)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    drop(running);

    // A restart serves the same sandbox with the same credentials.
    let (child, again) = start(&env);
    drop(Running(child));
    assert!(again.contains(&api_key), "{again}");
}

/// `http://host:port` of a URL printed in the banner.
fn base_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("a URL in the banner");
    format!(
        "{}://{}:{}",
        parsed.scheme(),
        parsed.host_str().expect("a host"),
        parsed.port_or_known_default().expect("a port")
    )
}
