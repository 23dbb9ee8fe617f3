//! Sockets as a slowloris attacker holds them: connected and silent, sending
//! a request head a byte at a time, idle after one request, or many from one
//! address. The listener must close them within seconds, refuse what is over
//! its caps at once, and keep serving everyone else meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common;

async fn app_with(extra: &[(&str, &str)]) -> common::TestApp {
    let (env, dir) = common::fresh_env(extra).await;
    common::start(env, dir).await
}

fn addr_of(app: &common::TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the app's address")
}

/// A connection to the app from `from` (any 127.0.0.0/8 address on Linux).
async fn connect_from(app: &common::TestApp, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    socket.connect(addr_of(app)).await.expect("connect")
}

/// Reads until the server closes the connection; what it sent and when it
/// closed, or `None` if it was still open at `deadline`.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Option<(Instant, Vec<u8>)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((Instant::now(), seen)),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A client bound to `from`, so the server sees another address.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Waits (at most 5 s) until a request from `from` is answered again.
async fn served_again(app: &common::TestApp, from: [u8; 4], what: &str) {
    let client = client_from(from);
    app.eventually(what, Duration::from_secs(5), || async {
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

#[tokio::test]
async fn two_hundred_slowloris_sockets_are_closed_within_seconds_while_others_are_served() {
    let app = app_with(&[("CONNECT_HEADER_TIMEOUT_MS", "1000")]).await;
    app.wait_ready().await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(6);
    let mut attackers = Vec::new();
    for i in 0..200 {
        let mut stream = connect_from(&app, [127, 0, 0, 1]).await;
        attackers.push(tokio::spawn(async move {
            if i % 2 == 0 {
                // Silent: connected, nothing sent.
                return closed_by(&mut stream, deadline).await.map(|(at, _)| at);
            }
            // Trickling: a request head that never ends, a few bytes at a time.
            let (mut read, mut write) = stream.into_split();
            let trickle = tokio::spawn(async move {
                let _ = write
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await;
                for _ in 0..40 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    if write.write_all(b"X-a: b\r\n").await.is_err() {
                        break;
                    }
                }
            });
            let mut buf = [0u8; 256];
            let closed = loop {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break None;
                };
                match tokio::time::timeout(left, read.read(&mut buf)).await {
                    Err(_) => break None,
                    Ok(Ok(0)) | Ok(Err(_)) => break Some(Instant::now()),
                    Ok(Ok(_)) => {}
                }
            };
            trickle.abort();
            closed
        }));
    }
    // While the sockets are held, a client from elsewhere is served.
    let during = client_from([127, 0, 0, 2])
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("a normal request during the attack");
    assert_eq!(during.status().as_u16(), 200);
    let mut last = started;
    for (i, a) in attackers.into_iter().enumerate() {
        let closed = a.await.expect("attacker task");
        let at = closed.unwrap_or_else(|| panic!("socket {i} was still open after 6 s"));
        last = last.max(at);
    }
    assert!(
        last - started < Duration::from_secs(5),
        "the last socket closed after {:?}",
        last - started
    );
    // And right after, from the attacker's own address too.
    app.call("GET", "/healthz", None, None, 200).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout_but_not_before() {
    let app = app_with(&[("CONNECT_HEADER_TIMEOUT_MS", "1000")]).await;
    app.wait_ready().await;
    let mut stream = connect_from(&app, [127, 0, 0, 1]).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answered = Instant::now();
    // Kept alive: a second request soon after is served on the same socket.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a second answer")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (closed_at, extra) = closed_by(&mut stream, answered + Duration::from_secs(5))
        .await
        .expect("the idle connection is closed within 5 s");
    let idle = closed_at - answered;
    assert!(
        idle >= Duration::from_millis(1000),
        "closed after only {idle:?} (second request at 300 ms restarts the clock)"
    );
    assert!(
        extra.is_empty() || String::from_utf8_lossy(&extra).starts_with("HTTP/1.1 408"),
        "unexpected bytes: {}",
        String::from_utf8_lossy(&extra)
    );
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_at_once_and_others_still_served() {
    let app = app_with(&[
        ("CONNECT_HEADER_TIMEOUT_MS", "20000"),
        ("CONNECT_MAX_CONNECTIONS_PER_IP", "20"),
    ])
    .await;
    app.wait_ready().await;
    let attacker = [127, 0, 0, 3];
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from(&app, attacker).await);
    }
    // Give the accept loop time to take all twenty.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let mut over = connect_from(&app, attacker).await;
        let (_, answer) = closed_by(&mut over, Instant::now() + Duration::from_secs(2))
            .await
            .expect("a connection over the cap is closed at once");
        let answer = String::from_utf8_lossy(&answer).to_string();
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("retry-after: 1"), "{answer}");
    }
    // The held sockets are still open: the cap refused only the extra ones.
    let mut buf = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), held[0].read(&mut buf))
            .await
            .is_err(),
        "a socket within the cap stays open"
    );
    let other = client_from([127, 0, 0, 4])
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("another address is served during the attack");
    assert_eq!(other.status().as_u16(), 200);
    // Once the attacker lets go, its address is served again.
    drop(held);
    served_again(
        &app,
        attacker,
        "the attacker's address is served after its sockets close",
    )
    .await;
}

#[tokio::test]
async fn connections_over_the_total_cap_are_answered_503_and_closed() {
    let app = app_with(&[
        ("CONNECT_HEADER_TIMEOUT_MS", "20000"),
        ("CONNECT_MAX_CONNECTIONS", "30"),
        ("CONNECT_MAX_CONNECTIONS_PER_IP", "10"),
    ])
    .await;
    app.wait_ready().await;
    let mut held = Vec::new();
    for from in [[127, 0, 0, 5], [127, 0, 0, 6], [127, 0, 0, 7]] {
        for _ in 0..10 {
            held.push(connect_from(&app, from).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from(&app, [127, 0, 0, 8]).await;
    let (_, answer) = closed_by(&mut over, Instant::now() + Duration::from_secs(2))
        .await
        .expect("a connection over the total cap is closed at once");
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(held);
    served_again(
        &app,
        [127, 0, 0, 8],
        "served again once the held connections close",
    )
    .await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let app = app_with(&[]).await;
    app.wait_ready().await;
    let mut stream = connect_from(&app, [127, 0, 0, 1]).await;
    let body = br#"{"company":"Late Ltd","email":"late@example.com","password":"correct horse battery staple"}"#;
    let head = format!(
        "POST /api/v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let (_, answer) = closed_by(&mut stream, Instant::now() + Duration::from_secs(10))
        .await
        .expect("the connection closes after its answer");
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // And nothing new is accepted: the listener is closed.
    assert!(TcpStream::connect(addr_of(&app)).await.is_err());
}

#[tokio::test]
async fn a_body_trickled_past_its_deadline_is_answered_408_and_the_handler_let_go() {
    let app = app_with(&[("CONNECT_BODY_TIMEOUT_MS", "1000")]).await;
    app.wait_ready().await;
    let mut stream = connect_from(&app, [127, 0, 0, 1]).await;
    let body = br#"{"company":"Slow","email":"slow@example.test","password":"correct horse battery staple"}"#;
    let head = format!(
        "POST /api/v1/signup HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    // A byte every 200 ms: each chunk arrives well within any per-chunk
    // timer, the whole body would take ~18 s.
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for b in body.iter() {
            if write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}}") {
        let n = tokio::time::timeout(Duration::from_secs(8), read.read(&mut buf))
            .await
            .expect("an answer within seconds, not when the body ends")
            .expect("read");
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    trickle.abort();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"body_timeout""#), "{text}");
    assert!(text.contains(r#""field":"body""#), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered after {:?}",
        started.elapsed()
    );
    // Nothing half-read was acted on: no such account exists.
    app.call(
        "POST",
        "/api/v1/auth/token",
        None,
        Some(serde_json::json!({"email": "slow@example.test", "password": "correct horse battery staple"})),
        401,
    )
    .await;
}
