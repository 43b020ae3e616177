//! URLs as `check-config`, the start-up log and error messages print them:
//! whatever could be a credential is replaced by `redacted`, whether or not
//! the URL parses.
//!
//! - a password in the userinfo (`user:redacted@`);
//! - in an `http(s)` URL the user name too (`redacted:redacted@`: APIs like
//!   Stripe's take the key as the user name); a database's or mail
//!   server's user name is kept;
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
        return raw.to_owned();
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
    let web = matches!(scheme, "http" | "https");
    let shown_user = userinfo.map(|info| match info.find(':') {
        Some(_) if web => "redacted:redacted".to_owned(),
        Some(colon) => format!("{}:redacted", &info[..colon]),
        None if web => "redacted".to_owned(),
        None => info.to_owned(),
    });
    let after = match after.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query(query)),
        None => after.to_owned(),
    };
    format!(
        "{}{}{after}{}",
        &raw[..start],
        shown_user.unwrap_or_default(),
        fragment.unwrap_or_default()
    )
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if !PLAIN_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}=redacted")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
                "smtps://me:redacted@mail.example:465",
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
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }
}
