//! Where the platform may send a tenant's requests.
//!
//! A base URL comes from a customer, so without a policy a production pair
//! could steer our workers at our own network (cloud metadata, the database,
//! an admin port). Production pairs therefore reach public addresses only,
//! except networks an operator has allowed for that tenant (an on-premises
//! Sage Pro agent behind a VPN). The check runs twice: when a URL is saved
//! (clear errors for the user) and inside the HTTP client's DNS resolution
//! on every call, so a name that later resolves inward (DNS rebinding) is
//! refused too. Redirects are never followed (see [`crate::connectors::http`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// What a pair's outbound calls may reach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressPolicy {
    /// Refuse internal addresses (production pairs).
    pub public_only: bool,
    /// Internal networks an operator allowed for this tenant anyway.
    pub allowed: Vec<IpNet>,
}

impl EgressPolicy {
    /// No restriction, for tools and tests. A pair never gets it: a sandbox
    /// pair reaches its own simulators by construction, not through a policy.
    pub fn open() -> Self {
        Self::default()
    }

    pub fn public_only(allowed: Vec<IpNet>) -> Self {
        EgressPolicy {
            public_only: true,
            allowed,
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.public_only || !is_internal(ip) || self.allowed.iter().any(|n| n.contains(&ip))
    }
}

/// Addresses that are not on the public internet: loopback, private,
/// link-local, shared (CGNAT), benchmarking, multicast, reserved, and IPv6
/// forms that embed such an IPv4 address (mapped, compatible, NAT64, 6to4 and
/// Teredo, whose relays deliver to the embedded address). (Documentation ranges are not
/// routed anywhere, so they need no refusal.)
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a == 0 // 0.0.0.0/8, "this network"
        || (a == 100 && (b & 0xC0) == 64) // 100.64.0.0/10, shared address space
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
        || (a == 198 && (b & 0xFE) == 18) // 198.18.0.0/15, benchmarking
        || a >= 240 // 240.0.0.0/4, reserved
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    // ::a.b.c.d (IPv4-compatible, deprecated but still routed by some stacks)
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return is_internal_v4(Ipv4Addr::from(v6.to_bits() as u32));
    }
    // 64:ff9b::/96, NAT64: the embedded IPv4 address decides.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(Ipv4Addr::from(v6.to_bits() as u32));
    }
    // 2002::/16, 6to4: a relay delivers to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_internal_v4(v4_from(s[1], s[2]));
    }
    // 2001:0000::/32, Teredo: the server's IPv4 address sits in bits 32..64,
    // the client's (the one packets finally reach) in the last 32 bits,
    // inverted. Either one inside is enough to refuse: the relay would carry
    // the packet there.
    if s[0] == 0x2001 && s[1] == 0 {
        let client = v4_from(!s[6], !s[7]);
        return is_internal_v4(v4_from(s[2], s[3])) || is_internal_v4(client);
    }
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
}

/// The IPv4 address two IPv6 segments carry.
fn v4_from(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses this pair may not reach ({refused})")]
struct Refused {
    host: String,
    refused: IpAddr,
}

/// Resolves names with the system resolver, then drops addresses the policy
/// refuses; a name left with none fails the call before a connection is made.
struct PolicyResolver {
    policy: EgressPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty()
                && let Some(first) = all.first()
            {
                return Err(Box::new(Refused {
                    host,
                    refused: first.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client like [`crate::connectors::http::client`] whose every connection
/// is checked against `policy` at resolution time.
pub fn client(
    policy: &EgressPolicy,
    timeouts: crate::connectors::http::Timeouts,
) -> reqwest::Client {
    crate::connectors::http::builder(timeouts)
        .dns_resolver(Arc::new(PolicyResolver {
            policy: policy.clone(),
        }))
        .build()
        .expect("the HTTP client settings are static and valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_recognised_in_every_form() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.1.2.3",
            "100.64.0.1",
            "198.18.5.5",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip(s)), "{s} is internal");
        }
        for s in [
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "203.0.113.10",
        ] {
            assert!(!is_internal(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn six_to_four_is_internal_when_its_ipv4_address_is() {
        // 2002:AABB:CCDD:: carries AA.BB.CC.DD.
        for s in [
            "2002:7f00:1::",      // 127.0.0.1
            "2002:a00:1::1",      // 10.0.0.1
            "2002:a9fe:a9fe::",   // 169.254.169.254, cloud metadata
            "2002:c0a8:101:1::1", // 192.168.1.1
            "2002:ac10:1::",      // 172.16.0.1
            "2002:6440:1::",      // 100.64.0.1, shared address space
        ] {
            assert!(is_internal(ip(s)), "{s} embeds an internal address");
        }
        assert!(!is_internal(ip("2002:808:808::1")), "8.8.8.8 is public");
        assert!(
            !is_internal(ip("2002:5db8:d822::")),
            "93.184.216.34 is public"
        );
    }

    #[test]
    fn teredo_is_internal_when_its_server_or_client_address_is() {
        // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC with the client inverted.
        // Public server 65.54.227.120 (4136:e378), public client 8.8.8.8
        // (inverted f7f7:f7f7): a public address.
        assert!(!is_internal(ip("2001:0:4136:e378:8000:63bf:f7f7:f7f7")));
        // Client 127.0.0.1 inverted is 80ff:fffe.
        assert!(is_internal(ip("2001:0:4136:e378:8000:63bf:80ff:fffe")));
        // Client 169.254.169.254 inverted is 5601:5601.
        assert!(is_internal(ip("2001:0:4136:e378:8000:63bf:5601:5601")));
        // Client 10.0.0.1 inverted is f5ff:fffe.
        assert!(is_internal(ip("2001:0:4136:e378::f5ff:fffe")));
        // Server 10.0.0.1, public client.
        assert!(is_internal(ip("2001:0:a00:1:8000:63bf:f7f7:f7f7")));
        // Server 192.168.0.1, public client.
        assert!(is_internal(ip("2001:0:c0a8:1::f7f7:f7f7")));
        // Not Teredo: another 2001:: network with the same low bits.
        assert!(!is_internal(ip("2001:4860:4136:e378::80ff:fffe")));
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let p = EgressPolicy::public_only(vec!["10.20.0.0/16".parse().unwrap()]);
        assert!(p.permits(ip("10.20.3.4")));
        assert!(!p.permits(ip("10.21.0.1")));
        assert!(!p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("8.8.8.8")));
        assert!(EgressPolicy::open().permits(ip("127.0.0.1")));
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_is_refused_at_call_time() {
        // "localhost" passes any syntax check; only resolution reveals it.
        let client = client(
            &EgressPolicy::public_only(Vec::new()),
            crate::connectors::http::Timeouts::default(),
        );
        let err = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        let chain = {
            let mut s = err.to_string();
            let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&err);
            while let Some(e) = cur {
                s.push_str(&format!(" / {e}"));
                cur = e.source();
            }
            s
        };
        assert!(chain.contains("may not reach"), "{chain}");
    }
}
