//! A policy as text: the canonical TOML a stored version keeps (every key
//! written out, so a version means the same whatever later defaults say),
//! reading a policy given as TOML or JSON, and the line diff of two.

use serde::{Deserialize, Serialize};

use super::every_error;

use super::policy::{
    OfferKind, Policy, RawFinal, RawHoldout, RawNetworks, RawOffer, RawPolicy, RawRetries, RawStage,
};

/// Every key of `policy`, as it would be written.
pub fn to_raw(policy: &Policy) -> RawPolicy {
    RawPolicy {
        retry_owner: Some(policy.retry_owner),
        default_timezone: Some(policy.default_timezone.name().to_owned()),
        retries: Some(RawRetries {
            max_attempts: Some(policy.retries.max_attempts),
            window_days: Some(policy.retries.window_days),
            max_per_card_30_days: Some(policy.retries.max_per_card_30_days),
        }),
        networks: Some(RawNetworks {
            visa_per_30_days: Some(policy.networks.visa_per_30_days),
            mastercard_per_30_days: Some(policy.networks.mastercard_per_30_days),
            mastercard_per_24_hours: Some(policy.networks.mastercard_per_24_hours),
            other_per_30_days: Some(policy.networks.other_per_30_days),
        }),
        stages: Some(
            policy
                .stages
                .iter()
                .map(|s| RawStage {
                    day: s.day,
                    email: s.email,
                    tone: s.tone,
                })
                .collect(),
        ),
        final_: Some(RawFinal {
            day: Some(policy.final_.day),
            action: Some(policy.final_.action),
            downgrade_price: policy
                .final_
                .downgrade_price
                .as_ref()
                .map(|p| p.as_str().to_owned()),
        }),
        offers: Some(
            policy
                .offers
                .iter()
                .map(|o| RawOffer {
                    id: o.id.clone(),
                    kind: o.kind,
                    price: o.price.as_ref().map(|p| p.as_str().to_owned()),
                    label: o.label.clone(),
                    proration_behavior: Some(o.proration_behavior.to_owned()),
                    labels: (!o.labels.is_empty()).then(|| {
                        o.labels
                            .iter()
                            .map(|(l, t)| (l.as_str().to_owned(), t.clone()))
                            .collect()
                    }),
                    pause_days: (o.kind == OfferKind::Pause).then_some(o.pause_days),
                    thank_you: o.thank_you.then_some(true),
                })
                .collect(),
        ),
        default_locale: Some(policy.default_locale.as_str().to_owned()),
        quiet_hours: Some(
            policy
                .courtesy
                .quiet_hours
                .map_or_else(|| "off".to_owned(), |(a, b)| format!("{a}-{b}")),
        ),
        min_hours_between_emails: Some(policy.courtesy.min_gap_hours),
        link_days_after_end: Some(policy.link_days_after_end),
        holdout: policy.holdout.map(|h| RawHoldout {
            version: Some(h.version),
            share_percent: Some(h.share_percent),
        }),
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    policy: RawPolicy,
}

/// The canonical TOML of `policy`: a `[policy]` table with every key.
pub fn canonical_toml(policy: &Policy) -> String {
    let file = File {
        policy: to_raw(policy),
    };
    // Every value is a string, number or table the TOML writer handles.
    toml::to_string(&file).unwrap_or_else(|e| format!("# cannot be written as TOML: {e}\n"))
}

/// How a policy is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

/// Reads a policy: TOML with a `[policy]` table or the policy's keys
/// alone, or JSON (`{"policy": {...}}` or the keys alone). Validated as
/// `check-config` validates; every error, at every depth, names its key
/// (`policy.stages[0].tone`), all at once.
pub fn parse(text: &str, format: Format) -> Result<Policy, Vec<String>> {
    checked(value_of(text, format)?)
}

/// The raw policy in `text`, before validation (every error at once).
pub fn raw(text: &str, format: Format) -> Result<RawPolicy, Vec<String>> {
    let read = every_error::read::<RawPolicy>(value_of(text, format)?, &sample(), "policy.");
    match read.value {
        Some(raw) if read.errors.is_empty() => Ok(raw),
        _ => Err(read.errors),
    }
}

/// The policy's keys in `text`, as a JSON value.
fn value_of(text: &str, format: Format) -> Result<serde_json::Value, Vec<String>> {
    match format {
        Format::Toml => {
            let table = toml_table(text)?;
            let inner = match table.get("policy") {
                Some(toml::Value::Table(t)) if table.len() == 1 => t.clone(),
                _ => table,
            };
            Ok(json_of(inner))
        }
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| vec![format!("policy: {e}")])?;
            Ok(match value.get("policy") {
                Some(inner) if value.as_object().is_some_and(|o| o.len() == 1) => inner.clone(),
                _ => value,
            })
        }
    }
}

/// A policy file: a whole configuration file, whose `[policy]` table is
/// the policy (its other tables are the rest of the configuration), or a
/// file of the policy's keys alone. Validated; every error names its key.
pub fn parse_file(text: &str) -> Result<Policy, Vec<String>> {
    let table = toml_table(text)?;
    let inner = match table.get("policy") {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => table,
    };
    checked(json_of(inner))
}

/// The policy in `value` (its keys, as JSON), read and validated: every
/// problem at once, each named by its key; a check of the whole does not
/// speak again about a key already named.
pub fn checked(value: serde_json::Value) -> Result<Policy, Vec<String>> {
    let read = every_error::read::<RawPolicy>(value, &sample(), "policy.");
    let Some(raw) = read.value else {
        return Err(read.errors);
    };
    let mut errors = read.errors;
    let clean = errors.is_empty();
    match raw.validate() {
        Ok(policy) if clean => Ok(policy),
        Ok(_) => Err(errors),
        Err(found) => {
            // A check of the whole about a key set aside, inside one, or
            // around one (a list whose element stood in) says nothing the
            // operator wrote.
            let key_of = |e: &str| {
                e.strip_prefix("policy.")
                    .and_then(|rest| rest.split(':').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let within = |inner: &str, outer: &str| {
                inner == outer
                    || inner
                        .strip_prefix(outer)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            };
            errors.extend(found.into_iter().filter(|e| {
                let key = key_of(e);
                !read
                    .touched
                    .iter()
                    .any(|t| within(&key, t) || within(t, &key))
            }));
            Err(errors)
        }
    }
}

/// A TOML table as JSON (a policy holds no dates, so nothing is lost).
fn json_of(table: toml::Table) -> serde_json::Value {
    serde_json::to_value(toml::Value::Table(table)).unwrap_or_default()
}

/// A valid policy with one of everything: its values stand in for wrong
/// ones while every error is collected.
fn sample() -> serde_json::Value {
    let mut sample = serde_json::to_value(to_raw(&Policy::default())).unwrap_or_default();
    sample["offers"] = serde_json::json!([{"id": "sample", "kind": "pause", "label": "Pause"}]);
    sample["holdout"] = serde_json::json!({"version": 1, "share_percent": 10});
    sample
}

fn toml_table(text: &str) -> Result<toml::Table, Vec<String>> {
    toml::from_str(text).map_err(|e| vec![format!("policy: {}", toml_error(&e))])
}

/// The TOML parser's message on one line, without the source excerpt.
fn toml_error(e: &toml::de::Error) -> String {
    let message = e.message().trim().to_owned();
    match e.span() {
        Some(_) if message.is_empty() => e.to_string().lines().next().unwrap_or("").to_owned(),
        _ => message,
    }
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `" "` the same, `"-"` only in the old, `"+"` only in the new.
    pub sign: &'static str,
    pub text: String,
}

/// The lines of `old` and `new`, with what was removed and added marked
/// (a longest-common-subsequence diff; policies are a few dozen lines).
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let line = |sign, text: &str| DiffLine {
        sign,
        text: text.to_owned(),
    };
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(line(" ", a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(line("-", a[i]));
            i += 1;
        } else {
            out.push(line("+", b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|t| line("-", t)));
    out.extend(b[j..].iter().map(|t| line("+", t)));
    out
}

/// Whether a diff changes anything.
pub fn changes(diff: &[DiffLine]) -> bool {
    diff.iter().any(|l| l.sign != " ")
}

/// The diff as text, unified-style (`-`/`+`/` ` before each line).
pub fn diff_text(diff: &[DiffLine]) -> String {
    diff.iter()
        .map(|l| format!("{}{}\n", l.sign, l.text))
        .collect()
}

/// Only the changed lines with `context` lines around them; a line with
/// the sign `"…"` stands for the lines left out between two parts.
pub fn hunks(diff: &[DiffLine], context: usize) -> Vec<DiffLine> {
    let changed: Vec<usize> = (0..diff.len()).filter(|&i| diff[i].sign != " ").collect();
    let near = |i: usize| {
        changed
            .iter()
            .any(|&c| i + context >= c && i <= c + context)
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, line) in diff.iter().enumerate() {
        if near(i) {
            if skipped && !out.is_empty() {
                out.push(DiffLine {
                    sign: "…",
                    text: String::new(),
                });
            }
            skipped = false;
            out.push(line.clone());
        } else {
            skipped = true;
        }
    }
    out
}

/// `hunks` as text, `...` between the parts.
pub fn diff_hunks(diff: &[DiffLine], context: usize) -> String {
    hunks(diff, context)
        .iter()
        .map(|l| match l.sign {
            "…" => "...\n".to_owned(),
            sign => format!("{sign}{}\n", l.text),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_text_reads_back_as_the_same_policy() {
        let policy = parse(
            r#"
[policy]
quiet_hours = "off"
[[policy.stages]]
day = 0
email = "payment_failed"
tone = "friendly"
[[policy.stages]]
day = 5
email = "final_notice"
tone = "final"
[policy.final]
day = 10
action = "downgrade"
downgrade_price = "price_basic"
[[policy.offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly"
[policy.holdout]
version = 1
share_percent = 12.5
"#,
            Format::Toml,
        )
        .unwrap();
        let text = canonical_toml(&policy);
        assert!(text.starts_with("[policy]\n"), "{text}");
        assert_eq!(parse(&text, Format::Toml).unwrap(), policy);
        assert_eq!(canonical_toml(&parse(&text, Format::Toml).unwrap()), text);
        let json = serde_json::to_string(&to_raw(&policy)).unwrap();
        assert_eq!(parse(&json, Format::Json).unwrap(), policy);
        let wrapped = format!("{{\"policy\": {json}}}");
        assert_eq!(parse(&wrapped, Format::Json).unwrap(), policy);
    }

    #[test]
    fn keys_alone_or_under_policy_read_the_same() {
        let bare = parse("retry_owner = \"processor\"\n", Format::Toml).unwrap();
        let table = parse("[policy]\nretry_owner = \"processor\"\n", Format::Toml).unwrap();
        assert_eq!(bare, table);
        // A whole configuration file: its [policy] is the policy.
        let config = "bind = \"0.0.0.0:8080\"\n[policy]\nretry_owner = \"processor\"\n[brand]\nname = \"Acme\"\n";
        assert_eq!(parse_file(config).unwrap(), bare);
        assert_eq!(parse_file("retry_owner = \"processor\"\n").unwrap(), bare);
        // Other keys beside [policy] are refused where a policy alone is given.
        assert!(parse(config, Format::Toml).is_err());
        let errors = parse_file("[policy.retries]\nwindow_days = 0\n").unwrap_err();
        assert!(
            errors[0].starts_with("policy.retries.window_days"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_error_names_its_key_and_bad_syntax_is_said() {
        let errors = parse(
            "[policy.retries]\nwindow_days = 0\n[policy.holdout]\nversion = 0\nshare_percent = 100\n",
            Format::Toml,
        )
        .unwrap_err()
        .join("\n");
        for key in [
            "policy.retries.window_days",
            "policy.holdout.version",
            "policy.holdout.share_percent",
        ] {
            assert!(errors.contains(key), "{key} missing: {errors}");
        }
        let syntax = parse("[policy\n", Format::Toml).unwrap_err();
        assert!(syntax[0].starts_with("policy: "), "{syntax:?}");
        let unknown = parse("{\"retry_ownr\": \"dunwell\"}", Format::Json).unwrap_err();
        assert!(unknown[0].contains("retry_ownr"), "{unknown:?}");
    }

    #[test]
    fn the_diff_marks_what_changed() {
        let d = diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(diff_text(&d), " a\n-b\n c\n+d\n");
        assert!(changes(&d));
        assert!(!changes(&diff("a\n", "a\n")));
        assert_eq!(diff_text(&diff("", "x\n")), "+x\n");
        let long = diff(
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
            "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
        );
        assert_eq!(diff_hunks(&long, 1), " 4\n-5\n+five\n 6\n");
        let two = diff("a\nb\nc\nd\ne\nf\n", "A\nb\nc\nd\ne\nF\n");
        assert_eq!(diff_hunks(&two, 1), "-a\n+A\n b\n...\n e\n-f\n+F\n");
    }
}
