//! The operator's dashboard session: a cookie value that says until when
//! it is good, signed with a key only the server knows (derived from the
//! admin token, so changing the token ends every session).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a login lasts.
pub const SESSION_SECS: i64 = 12 * 3600;

fn mac(key: &[u8], expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"dunwell-admin-session:");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// A session good until `expires` (unix seconds).
pub fn issue(key: &[u8], expires: i64) -> String {
    let tag = mac(key, expires).finalize().into_bytes();
    format!("{expires}.{}", hex::encode(tag))
}

/// Whether `value` is a session we issued that is still good at `now`.
pub fn valid(key: &[u8], value: &str, now: i64) -> bool {
    let Some((expires, tag)) = value.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), hex::decode(tag)) else {
        return false;
    };
    expires > now && mac(key, expires).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_unexpired_sessions_hold() {
        let session = issue(b"key", 2_000);
        assert!(valid(b"key", &session, 1_999));
        assert!(!valid(b"key", &session, 2_000));
        assert!(!valid(b"other key", &session, 1_000));
        assert!(!valid(b"key", &session.replace("2000.", "9999."), 1_000));
        assert!(!valid(b"key", "nonsense", 1_000));
        assert!(!valid(b"key", "", 1_000));
    }
}
