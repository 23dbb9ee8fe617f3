//! Checks a user-supplied base URL before the platform calls it: http(s) only,
//! and for production pairs no loopback, link-local or private addresses
//! (the platform must not be steered at its own network).

use std::net::IpAddr;

use connect_jobs::egress::EgressPolicy;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UrlError {
    #[error("is not a URL")]
    Parse,
    #[error("must use http or https")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("must not carry a user name or password; credentials go in their own fields")]
    Userinfo,
    #[error(
        "points at a private, loopback or link-local address ({0}); production pairs must use a \
         public address (an operator can allow an on-premises Sage Pro network)"
    )]
    Private(IpAddr),
    #[error("host {0} does not resolve")]
    Unresolvable(String),
}

/// Parses the URL and, when the policy is public-only, resolves the host and
/// refuses addresses the policy does not permit. The same policy is applied
/// again on every call by the connector's resolver.
pub async fn check(raw: &str, policy: &EgressPolicy) -> Result<url::Url, UrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlError::Parse)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    let host = url.host_str().ok_or(UrlError::NoHost)?.to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    if policy.public_only {
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
        if let Some(ip) = addrs.into_iter().find(|ip| !policy.permits(*ip)) {
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
            assert!(
                check(u, &EgressPolicy::public_only(Vec::new()))
                    .await
                    .is_err(),
                "{u} should be refused"
            );
        }
        let open = EgressPolicy::open();
        assert!(check("http://127.0.0.1:8080/x", &open).await.is_ok());
        let on_prem = EgressPolicy::public_only(vec!["10.20.0.0/24".parse().unwrap()]);
        assert!(check("http://10.20.0.7:8443/api", &on_prem).await.is_ok());
        assert!(check("http://10.20.1.7/", &on_prem).await.is_err());
        assert_eq!(
            check("https://user:pw@example.com/", &open)
                .await
                .unwrap_err(),
            UrlError::Userinfo
        );
    }

    #[tokio::test]
    async fn only_http_and_https_are_accepted() {
        assert_eq!(
            check("ftp://example.com", &EgressPolicy::open())
                .await
                .unwrap_err(),
            UrlError::Scheme
        );
        assert_eq!(
            check("file:///etc/passwd", &EgressPolicy::open())
                .await
                .unwrap_err(),
            UrlError::Scheme
        );
        assert_eq!(
            check("nonsense", &EgressPolicy::open()).await.unwrap_err(),
            UrlError::Parse
        );
    }
}
