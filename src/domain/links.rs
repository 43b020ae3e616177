//! Signed customer links (`/billing/update/{token}`): the token names whom
//! it is for (a recovery case, or a customer for a pre-dunning notice), what
//! it may do (its purpose) and an expiry, and carries an HMAC-SHA256 of all
//! three under the installation's link secret, so it cannot be forged,
//! redirected, repurposed or stretched. Several secrets may verify (a
//! rotation keeps the links already sent working).

use super::ids::CaseId;
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
    #[error("the link is not meant for this")]
    WrongPurpose,
}

/// How long a link in an email stays valid.
pub const VALID_DAYS: i64 = 45;

/// What a link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The billing page and its actions: new card, offers. Dunning emails.
    Billing,
    /// Only to look: the page of a settled case. Thank-you emails.
    Receipt,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Self::Billing => "b",
            Self::Receipt => "r",
        }
    }

    fn decode(code: &str) -> Option<Self> {
        match code {
            "b" => Some(Self::Billing),
            "r" => Some(Self::Receipt),
            _ => None,
        }
    }
}

/// A genuine, unexpired link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub subject: LinkSubject,
    pub purpose: Purpose,
}

/// What a link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSubject {
    Case(CaseId),
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
            ("c", id) => id.parse().ok().map(CaseId::new).map(Self::Case),
            ("u", id) if !id.is_empty() && id.chars().all(ok) => Some(Self::Customer(id.into())),
            _ => None,
        }
    }
}

fn mac(secret: &[u8], signed: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac
}

/// `{subject}.{purpose}.{expires}.{hex mac}`; `expires` in unix seconds.
pub fn sign(secret: &[u8], subject: &LinkSubject, purpose: Purpose, expires: i64) -> String {
    let signed = format!("{}.{}.{expires}", subject.encode(), purpose.code());
    let tag = hex::encode(mac(secret, &signed).finalize().into_bytes());
    format!("{signed}.{tag}")
}

/// What a token is for, if it is genuine under one of `secrets`, meant for
/// `wanted` (a billing link may also be looked at as a receipt) and not
/// expired at `now`. Links of the first release (`{subject}.{expires}.{mac}`)
/// are billing links.
pub fn verify(
    secrets: &[&[u8]],
    token: &str,
    wanted: Purpose,
    now: i64,
) -> Result<Link, LinkError> {
    let (signed, tag) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
    let parts: Vec<&str> = signed.split('.').collect();
    let (subject, purpose, expires) = match parts[..] {
        [subject, purpose, expires] => (
            subject,
            Purpose::decode(purpose).ok_or(LinkError::Malformed)?,
            expires,
        ),
        [subject, expires] => (subject, Purpose::Billing, expires),
        _ => return Err(LinkError::Malformed),
    };
    let subject = LinkSubject::decode(subject).ok_or(LinkError::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| LinkError::Malformed)?;
    let genuine = secrets
        .iter()
        .any(|secret| mac(secret, signed).verify_slice(&tag).is_ok());
    if !genuine {
        return Err(LinkError::BadSignature);
    }
    if expires < now {
        return Err(LinkError::Expired);
    }
    if purpose != wanted && !(purpose == Purpose::Billing && wanted == Purpose::Receipt) {
        return Err(LinkError::WrongPurpose);
    }
    Ok(Link { subject, purpose })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[&[u8]] = &[b"k"];

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let case = LinkSubject::Case(CaseId::new(42));
        let token = sign(b"k", &case, Purpose::Billing, 1_000);
        let ok = |t: &str, now| verify(K, t, Purpose::Billing, now).map(|l| l.subject);
        assert_eq!(ok(&token, 999), Ok(case));
        assert_eq!(ok(&token, 1_001), Err(LinkError::Expired));
        assert_eq!(
            verify(&[b"other"], &token, Purpose::Billing, 999),
            Err(LinkError::BadSignature)
        );
        let stretched = token.replacen("1000", "9999", 1);
        assert_eq!(ok(&stretched, 999), Err(LinkError::BadSignature));
        let redirected = token.replacen("c42", "c43", 1);
        assert_eq!(ok(&redirected, 999), Err(LinkError::BadSignature));
        let repurposed = token.replacen(".b.", ".r.", 1);
        assert_eq!(ok(&repurposed, 999), Err(LinkError::BadSignature));
        for bad in [
            "",
            "x",
            "1.2",
            "a.b.c",
            "c1.2.zz",
            "u.2.00",
            "x1.2.00",
            "c1.z.2.00",
            "c1.b.2.3.00",
        ] {
            assert_eq!(ok(bad, 0), Err(LinkError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_receipt_link_only_looks() {
        let token = sign(
            b"k",
            &LinkSubject::Case(CaseId::new(7)),
            Purpose::Receipt,
            50,
        );
        assert!(verify(K, &token, Purpose::Receipt, 10).is_ok());
        assert_eq!(
            verify(K, &token, Purpose::Billing, 10),
            Err(LinkError::WrongPurpose)
        );
        // A billing link may be looked at.
        let billing = sign(
            b"k",
            &LinkSubject::Case(CaseId::new(7)),
            Purpose::Billing,
            50,
        );
        assert!(verify(K, &billing, Purpose::Receipt, 10).is_ok());
    }

    #[test]
    fn rotated_secrets_keep_old_links_working() {
        let old = sign(
            b"old secret",
            &LinkSubject::Case(CaseId::new(1)),
            Purpose::Billing,
            50,
        );
        let secrets: &[&[u8]] = &[b"new secret", b"old secret"];
        assert!(verify(secrets, &old, Purpose::Billing, 10).is_ok());
        assert_eq!(
            verify(&[b"new secret"], &old, Purpose::Billing, 10),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn first_release_links_still_open_the_billing_page() {
        // `{subject}.{expires}.{mac over "subject.expires"}`.
        let tag = hex::encode(mac(b"k", "c42.1000").finalize().into_bytes());
        let legacy = format!("c42.1000.{tag}");
        let link = verify(K, &legacy, Purpose::Billing, 999).unwrap();
        assert_eq!(link.subject, LinkSubject::Case(CaseId::new(42)));
        assert_eq!(link.purpose, Purpose::Billing);
    }

    #[test]
    fn customer_links_name_the_customer() {
        let customer = LinkSubject::Customer("cus_Ab12".into());
        let token = sign(b"k", &customer, Purpose::Billing, 50);
        assert!(token.starts_with("ucus_Ab12.b."));
        assert_eq!(
            verify(K, &token, Purpose::Billing, 10).map(|l| l.subject),
            Ok(customer)
        );
    }
}
