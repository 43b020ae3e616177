//! URLs as `check-config`, the start-up log and error messages print them:
//! whatever could be a credential is replaced by `redacted`, whether or not
//! the URL parses.
//!
//! - a password in the userinfo (`user:redacted@`);
//! - the user name too (`redacted:redacted@`: APIs like Stripe's and some
//!   mail services take the key as the user name), except a PostgreSQL
//!   role's, which says which account connects;
//! - every query value except those of settings known to hold no secret
//!   (`sslmode=require` stays readable, `?password=`, `?token=` do not);
//! - a fragment.

/// Query keys whose values are never secrets (database and mail settings).
const PLAIN_QUERY_KEYS: &[&str] = &[
    "sslmode",
    "ssl",
    "sslrootcert",
    "tls",
    "mode",
    "cache",
    "application_name",
    "connect_timeout",
    "statement_cache_capacity",
    "target_session_attrs",
    "options",
    "host",
    "port",
    "dbname",
    "user",
];

pub fn redact_url(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        // Not a URL; perhaps a `key=value` connection string.
        return raw
            .split(' ')
            .map(redact_pair)
            .collect::<Vec<_>>()
            .join(" ");
    };
    let scheme = &raw[..start - 3];
    let (before_fragment, fragment) = match raw[start..].rfind('#') {
        // A `#` before the last `@` is part of a password, not a fragment.
        Some(i) if !raw[start + i..].contains('@') => (&raw[..start + i], Some("#redacted")),
        _ => (raw, None),
    };
    let rest = &before_fragment[start..];
    // The authority ends at the last `@` that still comes before the path's
    // first `/` after it; an unescaped `@`, `/` or `#` in a password cannot
    // be told apart, so everything up to the last `@` counts as userinfo.
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => (None, rest),
    };
    let database = matches!(scheme, "postgres" | "postgresql");
    let shown_user = userinfo.map(|info| match info.find(':') {
        Some(colon) if database => format!("{}:redacted", &info[..colon]),
        Some(_) => "redacted:redacted".to_owned(),
        None if database => info.to_owned(),
        None => "redacted".to_owned(),
    });
    // Only a web address carries tokens in its path (a file path does not).
    let web = matches!(scheme, "http" | "https");
    let path = |p: &str| if web { redact_path(p) } else { p.to_owned() };
    let after = match after.split_once('?') {
        Some((p, query)) => format!("{}?{}", path(p), redact_query(query)),
        None => path(after),
    };
    format!(
        "{}{}{after}{}",
        &raw[..start],
        shown_user.unwrap_or_default(),
        fragment.unwrap_or_default()
    )
}

/// In a web address, path segments that look like tokens (long, letters and digits mixed:
/// the secret part of a Slack or Discord webhook URL) are replaced.
fn redact_path(authority_and_path: &str) -> String {
    let Some((authority, path)) = authority_and_path.split_once('/') else {
        return authority_and_path.to_owned();
    };
    let path = path
        .split('/')
        .map(|segment| {
            let letters = segment.chars().any(|c| c.is_ascii_alphabetic());
            let digits = segment.chars().any(|c| c.is_ascii_digit());
            if segment.len() >= TOKEN_LIKE_CHARS && letters && digits {
                "redacted"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    format!("{authority}/{path}")
}

/// A path segment at least this long, of letters and digits, is taken
/// for a token.
const TOKEN_LIKE_CHARS: usize = 16;

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(redact_pair)
        .collect::<Vec<_>>()
        .join("&")
}

fn redact_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((key, _)) if !PLAIN_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
            format!("{key}=redacted")
        }
        _ => pair.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_are_redacted_whether_or_not_the_url_parses() {
        for (raw, shown) in [
            (
                "postgres://dunwell:s3cret@db:5432/app",
                "postgres://dunwell:redacted@db:5432/app",
            ),
            (
                "postgres://dunwell:pa#ss@db.internal:5432/app",
                "postgres://dunwell:redacted@db.internal:5432/app",
            ),
            (
                "smtps://me:p/a@ss@mail.example:465",
                "smtps://redacted:redacted@mail.example:465",
            ),
            (
                "smtp://SG.api-key@smtp.example:587",
                "smtp://redacted@smtp.example:587",
            ),
            (
                "ftp://sk_test_key:pw@stripe.example",
                "ftp://redacted:redacted@stripe.example",
            ),
            ("postgres://dunwell@db/app", "postgres://dunwell@db/app"),
            (
                "postgres://db/app?user=dunwell&password=s3cret&sslmode=require",
                "postgres://db/app?user=dunwell&password=redacted&sslmode=require",
            ),
            (
                "https://hooks:pw@hooks.example.com/in?token=abc123&x=1#sig",
                "https://redacted:redacted@hooks.example.com/in?token=redacted&x=redacted#redacted",
            ),
            (
                "https://sk_live_abc@api.stripe.example",
                "https://redacted@api.stripe.example",
            ),
            (
                "https://hooks.example.com/in?SSLMODE=require",
                "https://hooks.example.com/in?SSLMODE=require",
            ),
            ("sqlite://dunwell.db", "sqlite://dunwell.db"),
            (
                "sqlite://dunwell.db?mode=rwc",
                "sqlite://dunwell.db?mode=rwc",
            ),
            ("https://api.stripe.com/", "https://api.stripe.com/"),
            (
                "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/x9Yz8Wv7Ut6Sr5Qp4On3",
                "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/redacted",
            ),
            (
                "postgres://app@db.internal:5432/dunwell_production",
                "postgres://app@db.internal:5432/dunwell_production",
            ),
            ("not a url", "not a url"),
            (
                "host=db user=app password=s3cret dbname=x",
                "host=db user=app password=redacted dbname=x",
            ),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }
}
