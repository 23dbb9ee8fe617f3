//! The HTTP accept loop: each accepted socket becomes a hyper 1 HTTP/1.1
//! connection serving the axum router, under four limits that keep slow or
//! idle sockets from holding the server (the slowloris attack):
//!
//! - a header-read timeout: a client that has not sent a complete request
//!   head within it is disconnected;
//! - an idle keep-alive timeout: hyper (1.12, read in `proto/h1/conn.rs`)
//!   starts the same header-read timer whenever it waits for a request head,
//!   including the next one on a kept-alive connection, so an idle
//!   connection is closed after the header timeout too; no second timer is
//!   needed, and a request being handled is never cut short by it;
//! - a cap on connections held at once: past it a new connection is answered
//!   `503` and closed at once, so the accept loop never waits on an attacker;
//! - a cap per client address: past it, `429` and closed at once.
//!
//! Handlers still see the peer as `ConnectInfo<SocketAddr>` (sign-in
//! throttling reads it). On shutdown the listener closes, idle connections
//! close, and requests in flight finish before their connection does.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for
/// the connections it holds to finish their requests and close.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let total = Arc::new(Semaphore::new(limits.max_total));
    let per_ip = PerIp::new(limits.max_per_ip);
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, usually: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(total_slot) = Arc::clone(&total).try_acquire_owned() else {
            refuse(stream, Refusal::Total);
            continue;
        };
        let Some(ip_slot) = per_ip.take(peer.ip()) else {
            refuse(stream, Refusal::PerIp);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slots: (OwnedSemaphorePermit, IpSlot) = (total_slot, ip_slot);
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                // Timeouts and clients that hang up are routine here.
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// The largest request body accepted (webhooks carry whole orders; 2 MiB is ample).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A request body not fully received within this time after its head.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {} s", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

/// Middleware: the request's body must arrive whole within `limit` of its
/// head. hyper's header timer stops once the head is in, and tower-http's
/// body timeout restarts at every chunk, so a body trickled a byte at a time
/// would hold a connection and a handler for as long as the client likes.
/// A late body fails the read with [`BodyTimeout`] (the extractors answer 408).
pub async fn body_deadline(
    limit: Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures::StreamExt;
    let has_body = req
        .headers()
        .contains_key(axum::http::header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return next.run(req).await;
    }
    let deadline = tokio::time::Instant::now() + limit;
    let req = req.map(|body| {
        let chunks = body.into_data_stream();
        let guarded = futures::stream::unfold(Some(chunks), move |chunks| async move {
            let mut chunks = chunks?;
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(axum::BoxError::from(e)), None)),
                Ok(None) => None,
                Err(_) => Some((Err(axum::BoxError::from(BodyTimeout(limit))), None)),
            }
        });
        axum::body::Body::from_stream(guarded)
    });
    next.run(req).await
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    Total,
    PerIp,
}

/// Answers with a short status line and closes. The socket is fresh, so its
/// send buffer has room: `try_write` does not wait, and a client that reads
/// nothing costs us nothing.
fn refuse(stream: TcpStream, why: Refusal) {
    let (reason, answer): (&str, &[u8]) = match why {
        Refusal::Total => (
            "total",
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ),
        Refusal::PerIp => (
            "per_ip",
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ),
    };
    metrics::counter!("connect_http_connections_refused_total", "limit" => reason).increment(1);
    tracing::debug!(peer = ?stream.peer_addr().ok(), limit = reason, "connection refused");
    let _ = stream.try_write(answer);
}

/// Connections held per client address.
#[derive(Clone)]
struct PerIp {
    max: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`PerIp`]; given back when dropped.
struct IpSlot {
    ip: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self {
            max,
            held: Arc::default(),
        }
    }

    fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut held = self.held.lock();
        let n = held.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            held: Arc::clone(&self.held),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock();
        // Addresses with nothing held are removed, so the map stays as large
        // as the set of connected clients, not of every client ever seen.
        if let Entry::Occupied(mut e) = held.entry(self.ip) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_cap_of_slots_and_one_more_after_giving_one_back() {
        let per_ip = PerIp::new(2);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = per_ip.take(a).expect("first");
        let _second = per_ip.take(a).expect("second");
        assert!(per_ip.take(a).is_none(), "a third is over the cap");
        assert!(per_ip.take(b).is_some(), "another address is not affected");
        drop(first);
        assert!(per_ip.take(a).is_some(), "a slot given back can be taken");
    }

    #[test]
    fn an_address_with_nothing_held_leaves_no_entry() {
        let per_ip = PerIp::new(2);
        let a: IpAddr = [127, 0, 0, 2].into();
        drop(per_ip.take(a));
        assert!(per_ip.held.lock().is_empty());
    }
}
