//! The operator's dashboard session. The cookie carries a random id and a
//! tag over it under the installation's session secret (generated and kept
//! in the database, never the operator token); the server keeps the id's
//! hash with its expiry, whether it was revoked, and a mark of the token it
//! was made under. Pure: ids and times come from the caller.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How long a sign-in lasts.
pub const SESSION_SECS: i64 = 12 * 3600;

fn mac(key: &[u8], what: &str, value: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(what.as_bytes());
    mac.update(b":");
    mac.update(value.as_bytes());
    mac
}

/// The cookie value for session `id`.
pub fn cookie_value(key: &[u8], id: &str) -> String {
    let tag = mac(key, "dunwell-admin-session", id)
        .finalize()
        .into_bytes();
    format!("{id}.{}", hex::encode(tag))
}

/// The session id in a cookie value we issued (its tag checks out); a
/// forged or altered value gives `None` without a database read.
pub fn session_id<'a>(key: &[u8], value: &'a str) -> Option<&'a str> {
    let (id, tag) = value.split_once('.')?;
    let tag = hex::decode(tag).ok()?;
    if id.is_empty() || id.len() > 64 {
        return None;
    }
    mac(key, "dunwell-admin-session", id)
        .verify_slice(&tag)
        .ok()
        .map(|()| id)
}

/// What the server stores for `id`: its hash (a copy of the table opens no
/// session).
pub fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The mark of the operator token a session is made under: a new token
/// ends every session, and the mark (keyed by the session secret) tells
/// nothing about the token.
pub fn token_mark(key: &[u8], token: &str) -> String {
    hex::encode(
        mac(key, "dunwell-admin-token", token)
            .finalize()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cookies_we_issued_name_a_session() {
        let value = cookie_value(b"secret", "abc123");
        assert_eq!(session_id(b"secret", &value), Some("abc123"));
        assert_eq!(session_id(b"other secret", &value), None);
        let altered = value.replacen("abc123", "abc124", 1);
        assert_eq!(session_id(b"secret", &altered), None);
        assert_eq!(session_id(b"secret", "nonsense"), None);
        assert_eq!(session_id(b"secret", ""), None);
        assert_eq!(session_id(b"secret", "."), None);
    }

    #[test]
    fn marks_differ_by_token_and_key_and_hide_both() {
        let mark = token_mark(b"secret", "operator-token-0123456789");
        assert_ne!(mark, token_mark(b"secret", "operator-token-0123456780"));
        assert_ne!(mark, token_mark(b"other", "operator-token-0123456789"));
        assert!(!mark.contains("operator"));
        assert_ne!(id_hash("abc"), "abc");
    }
}
