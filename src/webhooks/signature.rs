//! Stripe-Signature: `t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 keyed with
//! the whole secret string over `"{t}.{raw body}"`. Only `verify` can produce a
//! `Verified` payload, so nothing downstream can skip the check.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance for the signed timestamp.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Header values longer than this are refused before any parsing.
const MAX_HEADER_LEN: usize = 4096;
/// Distinct `v1` entries we are willing to try (rotation needs two or three).
const MAX_SIGNATURES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature in Stripe-Signature header")]
    NoV1,
    #[error("timestamp outside the tolerance window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// A body whose signature matched one of the configured secrets.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
    /// Which secret matched (0 = first), for rotation bookkeeping.
    pub secret_index: usize,
}

impl<'a> Verified<'a> {
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Header {
    timestamp: i64,
    v1: Vec<[u8; 32]>,
}

fn parse_header(raw: &str) -> Result<Header, SignatureError> {
    if raw.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in raw.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                timestamp = Some(t);
            }
            "v1" => {
                let mut sig = [0u8; 32];
                // A v1 that is not 64 hex digits can never match: skip it like
                // an unknown scheme rather than refusing the other entries.
                if hex::decode_to_slice(value, &mut sig).is_ok() && v1.len() < MAX_SIGNATURES {
                    v1.push(sig);
                }
            }
            // v0 (test-mode legacy) and future schemes are ignored.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    Ok(Header { timestamp, v1 })
}

fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// What can be checked before the body is read: the header is there,
/// well-formed, and its timestamp inside the tolerance. A request that
/// fails this is refused without buffering a byte of its body.
pub fn precheck(header: Option<&str>, now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    current_header(header, now, tolerance_secs).map(|_| ())
}

/// The header, parsed, if it is there, well-formed and inside the tolerance.
fn current_header(
    header: Option<&str>,
    now: i64,
    tolerance_secs: i64,
) -> Result<Header, SignatureError> {
    let header = parse_header(header.ok_or(SignatureError::Missing)?)?;
    // abs_diff: an extreme timestamp must not overflow the subtraction.
    if now.abs_diff(header.timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(header)
}

/// Checks `header` against `body` with every secret; `now` is unix seconds.
pub fn verify<'a>(
    header: Option<&str>,
    body: &'a [u8],
    secrets: &[SecretString],
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified<'a>, SignatureError> {
    let header = current_header(header, now, tolerance_secs)?;
    for (secret_index, secret) in secrets.iter().enumerate() {
        let expected = mac(secret, header.timestamp, body);
        // `verify_slice` compares in constant time.
        if header
            .v1
            .iter()
            .any(|sig| expected.clone().verify_slice(sig).is_ok())
        {
            return Ok(Verified { body, secret_index });
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header value the processor would send for `body` at `timestamp`.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let sig = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn matches_a_known_stripe_vector() {
        // From Python: hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).
        let header = sign(&secret("whsec_test"), NOW, b"{}");
        assert_eq!(
            header,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn accepts_any_v1_and_any_secret() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(&secret("whsec_new"), NOW, body);
        let stale = sign(&secret("whsec_old"), NOW, body);
        let both = format!("{stale},{}", good.split(',').nth(1).unwrap());
        let secrets = [secret("whsec_other"), secret("whsec_new")];
        let v = verify(Some(&both), body, &secrets, NOW, 300).unwrap();
        assert_eq!(v.secret_index, 1);
        assert_eq!(v.body(), body);
    }

    #[test]
    fn refuses_bad_headers_with_distinct_reasons() {
        let body = b"{}";
        let s = [secret("whsec_a")];
        let good = sign(&s[0], NOW, body);
        let v1 = good.split_once(",v1=").unwrap().1;
        let cases = [
            (None, SignatureError::Missing),
            (Some("garbage".to_owned()), SignatureError::Malformed),
            (Some(format!("v1={v1}")), SignatureError::Malformed),
            (Some(format!("t=abc,v1={v1}")), SignatureError::Malformed),
            (Some(format!("t={NOW},v0={v1}")), SignatureError::NoV1),
            (
                Some(format!("t={},v1={v1}", NOW - 301)),
                SignatureError::Stale,
            ),
            (
                Some(format!("t={},v1={v1}", NOW + 301)),
                SignatureError::Stale,
            ),
            (
                Some(format!("t={NOW},v1={}", "0".repeat(64))),
                SignatureError::Mismatch,
            ),
            (Some("x".repeat(5000)), SignatureError::Malformed),
        ];
        for (header, want) in cases {
            let got = verify(header.as_deref(), body, &s, NOW, 300).unwrap_err();
            assert_eq!(got, want, "{header:?}");
        }
        // Extreme timestamps are stale, not an overflow.
        for t in [i64::MIN, i64::MAX, -1] {
            let header = format!("t={t},v1={v1}");
            assert_eq!(
                verify(Some(&header), body, &s, NOW, 300).unwrap_err(),
                SignatureError::Stale
            );
        }
        assert!(verify(Some(&good), body, &s, NOW + 300, 300).is_ok());
        assert_eq!(
            verify(Some(&good), b"{} ", &s, NOW, 300).unwrap_err(),
            SignatureError::Mismatch
        );
    }
}
