//! Clarity webhook signatures (spec §4.4), Stripe style.
//!
//! The sender signs `"<t>.<raw body>"` with HMAC-SHA256 under each active
//! secret and sends `Clarity-Webhook-Signature: t=<t>,v1=<hex>[,v1=<hex>]`:
//! during a secret rotation both the old and the new signature are present.
//! The key is the UTF-8 bytes of the whole secret string (`whsec_…`), as Stripe does.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "Clarity-Webhook-Signature";
pub const ID_HEADER: &str = "Clarity-Webhook-Id";
pub const TIMESTAMP_HEADER: &str = "Clarity-Webhook-Timestamp";
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SignatureError {
    /// The header could not be read; the payload names the part that was wrong.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("signature timestamp outside the tolerance ({age_secs} s old)")]
    Expired { age_secs: i64 },
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Lowercase hex HMAC-SHA256 over `"<t>.<body>"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// `"t=<t>,v1=<sig1>[,v1=<sig2>]"`: one `v1` per secret, in the order given.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

/// Parses `t` and every `v1`, rejects a timestamp further than `tolerance_secs`
/// from `now_unix` (either way), then compares each signature in constant time
/// against every secret. Returns `t`. Unknown schemes (`v0=…`) are ignored.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[&str],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part
            .split_once('=')
            .ok_or(SignatureError::Malformed("element without '='"))?;
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("t given twice"));
                }
                let t: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| SignatureError::Malformed("t"))?;
                timestamp = Some(t);
            }
            "v1" => {
                let sig = hex::decode(value.trim()).map_err(|_| SignatureError::Malformed("v1"))?;
                if sig.len() != 32 {
                    return Err(SignatureError::Malformed("v1"));
                }
                signatures.push(sig);
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed("t"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("v1"));
    }
    let age_secs = now_unix.saturating_sub(t);
    if age_secs.saturating_abs() > tolerance_secs {
        return Err(SignatureError::Expired { age_secs });
    }
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let expected = mac(secret, t, body).finalize().into_bytes();
        for sig in &signatures {
            matched |= expected.as_slice().ct_eq(sig.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"order.created"}"#;

    #[test]
    fn sign_matches_a_known_vector() {
        // The RFC 4231 test case 2 key and message, to pin the HMAC itself.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // And the payload layout "<t>.<body>": same digest as signing that string whole.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1717236001.what do ya want for nothing?");
        assert_eq!(
            sign("Jefe", 1717236001, b"what do ya want for nothing?"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn a_signed_body_verifies_and_returns_its_timestamp() {
        let header = signature_header(&[SECRET], 1_700_000_000, BODY);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(
                &header,
                BODY,
                &[SECRET],
                1_700_000_010,
                DEFAULT_TOLERANCE_SECS
            ),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn a_tampered_body_is_a_mismatch() {
        let header = signature_header(&[SECRET], 1_700_000_000, BODY);
        let tampered = br#"{"id":"evt_1","type":"order.cancelled"}"#;
        assert_eq!(
            verify(&header, tampered, &[SECRET], 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_wrong_secret_is_a_mismatch() {
        let header = signature_header(&[SECRET], 1_700_000_000, BODY);
        assert_eq!(
            verify(&header, BODY, &["whsec_other"], 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_expired() {
        let header = signature_header(&[SECRET], 1_700_000_000, BODY);
        assert_eq!(
            verify(&header, BODY, &[SECRET], 1_700_000_301, 300),
            Err(SignatureError::Expired { age_secs: 301 })
        );
        assert_eq!(
            verify(&header, BODY, &[SECRET], 1_699_999_000, 300),
            Err(SignatureError::Expired { age_secs: -1000 })
        );
        assert!(verify(&header, BODY, &[SECRET], 1_700_000_300, 300).is_ok());
    }

    #[test]
    fn during_rotation_either_secret_verifies() {
        let header = signature_header(&["whsec_old", "whsec_new"], 1_700_000_000, BODY);
        assert_eq!(header.matches("v1=").count(), 2);
        assert!(verify(&header, BODY, &["whsec_old"], 1_700_000_000, 300).is_ok());
        assert!(verify(&header, BODY, &["whsec_new"], 1_700_000_000, 300).is_ok());
        assert!(verify(&header, BODY, &["whsec_x", "whsec_new"], 1_700_000_000, 300).is_ok());
        // A receiver that already knows only the new secret, sent only the old signature.
        let old_only = signature_header(&["whsec_old"], 1_700_000_000, BODY);
        assert_eq!(
            verify(&old_only, BODY, &["whsec_new"], 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_name_the_bad_part() {
        let sig = sign(SECRET, 1, BODY);
        assert_eq!(
            verify(&format!("v1={sig}"), BODY, &[SECRET], 1, 300),
            Err(SignatureError::Malformed("t"))
        );
        assert_eq!(
            verify("t=1", BODY, &[SECRET], 1, 300),
            Err(SignatureError::Malformed("v1"))
        );
        assert_eq!(
            verify("t=abc,v1=00", BODY, &[SECRET], 1, 300),
            Err(SignatureError::Malformed("t"))
        );
        assert_eq!(
            verify("t=1,v1=zz", BODY, &[SECRET], 1, 300),
            Err(SignatureError::Malformed("v1"))
        );
        assert_eq!(
            verify("garbage", BODY, &[SECRET], 1, 300),
            Err(SignatureError::Malformed("element without '='"))
        );
        // Unknown schemes are skipped, as Stripe's verifiers do.
        assert!(verify(&format!("t=1,v0=abc,v1={sig}"), BODY, &[SECRET], 1, 300).is_ok());
    }
}
