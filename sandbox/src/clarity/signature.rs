//! How the simulator signs a webhook delivery (`shared/specs/clarity.md` §4.3,
//! §4.4), written from the spec, apart from the connector's verifier:
//!
//! `Clarity-Webhook-Signature: t=<timestamp>,v1=<hex>[,v1=<hex>]`, where each
//! `v1` is the lowercase hex HMAC-SHA256 of `"<timestamp>.<raw body>"` keyed by
//! one active secret; during a rotation's overlap the old secret signs too.
//! The key is the secret exactly as `POST /webhooks` handed it out (the whole
//! `whsec_…` string as UTF-8, as Stripe, whose scheme the spec follows, does).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const ID_HEADER: &str = "Clarity-Webhook-Id";
pub const TIMESTAMP_HEADER: &str = "Clarity-Webhook-Timestamp";
pub const SIGNATURE_HEADER: &str = "Clarity-Webhook-Signature";

/// The signature header's value for `body` sent at `timestamp` (Unix
/// seconds), one `v1` per secret in the order given (newest first).
pub fn header_value(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        // HMAC takes a key of any length; new_from_slice cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            continue;
        };
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        value.push_str(",v1=");
        value.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_v1_per_secret_after_the_timestamp() {
        let v = header_value(&["whsec_new", "whsec_old"], 1717236001, b"{}");
        let parts: Vec<&str> = v.split(',').collect();
        assert_eq!(parts[0], "t=1717236001");
        assert_eq!(parts.len(), 3);
        assert!(
            parts[1..]
                .iter()
                .all(|p| p.starts_with("v1=") && p.len() == 3 + 64)
        );
        assert_ne!(parts[1], parts[2]);
    }

    #[test]
    fn the_digest_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed outside Rust: Python's hmac.new(b"key", b"1.x", sha256).
        assert_eq!(
            header_value(&["key"], 1, b"x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }
}
