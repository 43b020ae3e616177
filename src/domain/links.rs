//! Signed customer links (`/billing/update/{token}`): the token names the
//! case and an expiry, and carries an HMAC-SHA256 of both under the
//! installation's link secret, so it cannot be forged or stretched.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

fn mac(secret: &[u8], case_id: i64, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{case_id}.{expires}").as_bytes());
    mac
}

/// `{case_id}.{expires}.{hex mac}`; `expires` in unix seconds.
pub fn sign(secret: &[u8], case_id: i64, expires: i64) -> String {
    let tag = hex::encode(mac(secret, case_id, expires).finalize().into_bytes());
    format!("{case_id}.{expires}.{tag}")
}

/// The case a token names, if it is genuine and not expired at `now`.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<i64, LinkError> {
    let mut parts = token.splitn(3, '.');
    let (Some(case), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LinkError::Malformed);
    };
    let case_id: i64 = case.parse().map_err(|_| LinkError::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| LinkError::Malformed)?;
    mac(secret, case_id, expires)
        .verify_slice(&tag)
        .map_err(|_| LinkError::BadSignature)?;
    if expires < now {
        return Err(LinkError::Expired);
    }
    Ok(case_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let token = sign(b"k", 42, 1_000);
        assert_eq!(verify(b"k", &token, 999), Ok(42));
        assert_eq!(verify(b"k", &token, 1_001), Err(LinkError::Expired));
        assert_eq!(verify(b"other", &token, 999), Err(LinkError::BadSignature));
        let stretched = token.replacen("1000", "9999", 1);
        assert_eq!(verify(b"k", &stretched, 999), Err(LinkError::BadSignature));
        for bad in ["", "x", "1.2", "a.b.c", "1.2.zz"] {
            assert_eq!(verify(b"k", bad, 0), Err(LinkError::Malformed), "{bad}");
        }
    }
}
