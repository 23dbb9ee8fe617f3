//! The one way connectors send HTTP: shared client settings and the mapping of
//! transport failures onto [`ConnectorError`].

use std::time::Duration;

use super::{ConnectorError, System};

/// Timeouts for every outbound call. A connector never waits without a bound.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(10),
        }
    }
}

/// Builds the HTTP client shared by all connectors of a process.
/// Redirects are not followed: a peer that redirects is answered as a protocol error
/// rather than letting it steer our credentials to another host.
pub fn client(timeouts: Timeouts) -> reqwest::Client {
    builder(timeouts)
        .build()
        .expect("the HTTP client settings are static and valid")
}

/// The settings every connector client shares; [`crate::egress`] adds its resolver.
pub fn builder(timeouts: Timeouts) -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("clarity-connect/", env!("CARGO_PKG_VERSION")))
}

/// Maps a transport error (no HTTP status) onto the connector error model.
pub fn transport_error(system: System, err: reqwest::Error, timeout: Duration) -> ConnectorError {
    if err.is_timeout() {
        ConnectorError::Timeout {
            system,
            after: timeout,
        }
    } else if err.is_connect() {
        ConnectorError::Connect {
            system,
            message: root_cause(&err),
        }
    } else if err.is_decode() || err.is_body() {
        ConnectorError::Protocol {
            system,
            message: root_cause(&err),
        }
    } else {
        ConnectorError::Connect {
            system,
            message: root_cause(&err),
        }
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// reqwest is built without a TLS provider of its own (no OpenSSL, no aws-lc):
/// install ring once per process before the first client is built.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
