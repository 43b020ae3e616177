//! Signed customer links (`/billing/update/{token}`): the token names what
//! it is for (a recovery case, or a customer for a pre-dunning notice) and
//! an expiry, and carries an HMAC-SHA256 of both under the installation's
//! link secret, so it cannot be forged, redirected or stretched.

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

/// What a link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSubject {
    Case(i64),
    Customer(String),
}

impl LinkSubject {
    fn encode(&self) -> String {
        match self {
            Self::Case(id) => format!("c{id}"),
            Self::Customer(id) => format!("u{id}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match text.split_at_checked(1)? {
            ("c", id) => id.parse().ok().map(Self::Case),
            ("u", id) if !id.is_empty() && id.chars().all(ok) => Some(Self::Customer(id.into())),
            _ => None,
        }
    }
}

fn mac(secret: &[u8], subject: &str, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{subject}.{expires}").as_bytes());
    mac
}

/// `{subject}.{expires}.{hex mac}`; `expires` in unix seconds.
pub fn sign(secret: &[u8], subject: &LinkSubject, expires: i64) -> String {
    let subject = subject.encode();
    let tag = hex::encode(mac(secret, &subject, expires).finalize().into_bytes());
    format!("{subject}.{expires}.{tag}")
}

/// What a token is for, if it is genuine and not expired at `now`.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<LinkSubject, LinkError> {
    let mut parts = token.splitn(3, '.');
    let (Some(subject), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(LinkError::Malformed);
    };
    let parsed = LinkSubject::decode(subject).ok_or(LinkError::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| LinkError::Malformed)?;
    mac(secret, subject, expires)
        .verify_slice(&tag)
        .map_err(|_| LinkError::BadSignature)?;
    if expires < now {
        return Err(LinkError::Expired);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let case = LinkSubject::Case(42);
        let token = sign(b"k", &case, 1_000);
        assert_eq!(verify(b"k", &token, 999), Ok(case));
        assert_eq!(verify(b"k", &token, 1_001), Err(LinkError::Expired));
        assert_eq!(verify(b"other", &token, 999), Err(LinkError::BadSignature));
        let stretched = token.replacen("1000", "9999", 1);
        assert_eq!(verify(b"k", &stretched, 999), Err(LinkError::BadSignature));
        let redirected = token.replacen("c42", "c43", 1);
        assert_eq!(verify(b"k", &redirected, 999), Err(LinkError::BadSignature));
        for bad in ["", "x", "1.2", "a.b.c", "c1.2.zz", "u.2.00", "x1.2.00"] {
            assert_eq!(verify(b"k", bad, 0), Err(LinkError::Malformed), "{bad}");
        }
    }

    #[test]
    fn customer_links_name_the_customer() {
        let customer = LinkSubject::Customer("cus_Ab12".into());
        let token = sign(b"k", &customer, 50);
        assert!(token.starts_with("ucus_Ab12."));
        assert_eq!(verify(b"k", &token, 10), Ok(customer));
    }
}
