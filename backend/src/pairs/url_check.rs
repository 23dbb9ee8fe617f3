//! Checks a user-supplied base URL before the platform calls it: http(s) only,
//! and for production pairs no loopback, link-local or private addresses
//! (the platform must not be steered at its own network).

use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UrlError {
    #[error("is not a URL")]
    Parse,
    #[error("must use http or https")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error(
        "points at a private, loopback or link-local address ({0}); production pairs must use a public address"
    )]
    Private(IpAddr),
    #[error("host {0} does not resolve")]
    Unresolvable(String),
}

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Parses and, when `public_only`, resolves the host and refuses internal addresses.
pub async fn check(raw: &str, public_only: bool) -> Result<url::Url, UrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlError::Parse)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    let host = url.host_str().ok_or(UrlError::NoHost)?.to_owned();
    if public_only {
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| UrlError::Unresolvable(host.clone()))?
                .map(|a| a.ip())
                .collect(),
        };
        if let Some(ip) = addrs.into_iter().find(|ip| is_internal(*ip)) {
            return Err(UrlError::Private(ip));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn production_urls_may_not_point_inside() {
        for u in [
            "http://127.0.0.1:8080/x",
            "http://10.0.0.5/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://localhost/",
        ] {
            assert!(check(u, true).await.is_err(), "{u} should be refused");
        }
        assert!(check("http://127.0.0.1:8080/x", false).await.is_ok());
    }

    #[tokio::test]
    async fn only_http_and_https_are_accepted() {
        assert_eq!(
            check("ftp://example.com", false).await.unwrap_err(),
            UrlError::Scheme
        );
        assert_eq!(
            check("file:///etc/passwd", false).await.unwrap_err(),
            UrlError::Scheme
        );
        assert_eq!(check("nonsense", false).await.unwrap_err(), UrlError::Parse);
    }
}
