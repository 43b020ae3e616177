//! Reading a nested setting (the policy, the brand) so that every mistake
//! is named at once, by its key path (`policy.stages[0].tone`), with the
//! nearest known key for a typo. Serde stops at the first problem; here
//! each problem is set aside — an unknown key removed, a value of the
//! wrong kind replaced by the one a valid sample has at the same place —
//! and the reading goes on, so one typo hides nothing else.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

/// The known word nearest to `word`, when it is near enough to be what
/// was meant (a typo, a missing or extra letter, a plural).
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&word, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// What a reading found.
#[derive(Debug)]
pub struct Read<T> {
    /// The value read, with every problem set aside; `None` when a problem
    /// could not be set aside (a required key missing with no sample).
    pub value: Option<T>,
    /// Every problem, `{prefix}{path}: what is wrong`.
    pub errors: Vec<String>,
    /// The paths (without the prefix) that were set aside: checks of the
    /// value read should not speak about them again.
    pub touched: Vec<String>,
}

/// Reads `value` as a `T`, naming every problem (see the module). `sample`
/// is a valid value of the same shape (its arrays' first elements stand for
/// every element) whose values stand in for wrong or missing ones.
pub fn read<T: DeserializeOwned>(mut value: Value, sample: &Value, prefix: &str) -> Read<T> {
    let mut errors = Vec::new();
    let mut touched = Vec::new();
    // Each round sets one problem aside; a value has only so many keys.
    for _ in 0..256 {
        let problem = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(read) => {
                return Read {
                    value: Some(read),
                    errors,
                    touched,
                };
            }
            Err(problem) => problem,
        };
        let mut path: Vec<Step> = problem.path().iter().filter_map(Step::of).collect();
        let message = problem.into_inner().to_string();
        let fix = if let Some((key, expected)) = unknown_field(&message) {
            // The path may or may not name the unknown key itself.
            if path.last() != Some(&Step::Key(key.clone())) {
                path.push(Step::Key(key.clone()));
            }
            let hint = closest(&key, expected.iter().map(String::as_str))
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| {
                    format!(
                        " (known keys: {})",
                        expected
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
            errors.push(format!("{prefix}{}: unknown key{hint}", shown(&path)));
            remove(&mut value, &path)
        } else if let Some(key) = missing_field(&message) {
            path.push(Step::Key(key));
            let shown_path = shown(&path);
            // A key set aside above may be the one now missing: said once.
            if !touched.contains(&shown_path) {
                errors.push(format!("{prefix}{shown_path}: required, but missing"));
            }
            stand_in(sample, &path).is_some_and(|v| put(&mut value, &path, v))
        } else {
            errors.push(format!("{prefix}{}: {}", shown(&path), tidy(&message)));
            match stand_in(sample, &path) {
                Some(v) => put(&mut value, &path, v),
                None => remove(&mut value, &path),
            }
        };
        touched.push(shown(&path));
        if !fix {
            break;
        }
    }
    Read {
        value: None,
        errors,
        touched,
    }
}

/// One step of a path into a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    fn of(segment: &Segment) -> Option<Self> {
        match segment {
            Segment::Seq { index } => Some(Self::Index(*index)),
            Segment::Map { key } => Some(Self::Key(key.clone())),
            Segment::Enum { variant } => Some(Self::Key(variant.clone())),
            Segment::Unknown => None,
        }
    }
}

/// `stages[0].tone`; the empty path is the whole value.
fn shown(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push_str("(top)");
    }
    out
}

/// "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or
/// `b`", or "there are no fields"): the key and the known ones.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((key.to_owned(), expected))
}

/// "missing field `x`": the key.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split_once('`')?.0.to_owned())
}

/// Serde's words, a little plainer ("variant" is a Rust word).
fn tidy(message: &str) -> String {
    message
        .replace("unknown variant", "unknown value")
        .replace("invalid type: ", "")
}

/// The sample's value at `path`, every index read as the first element.
fn stand_in(sample: &Value, path: &[Step]) -> Option<Value> {
    let mut at = sample;
    for step in path {
        at = match step {
            Step::Key(k) => at.get(k)?,
            Step::Index(_) => at.get(0)?,
        };
    }
    Some(at.clone())
}

/// The parent of `path`'s last step, and that step.
fn parent<'v>(value: &'v mut Value, path: &[Step]) -> Option<(&'v mut Value, Step)> {
    let (last, up) = path.split_last()?;
    let mut at = value;
    for step in up {
        at = match step {
            Step::Key(k) => at.get_mut(k)?,
            Step::Index(i) => at.get_mut(*i)?,
        };
    }
    Some((at, last.clone()))
}

fn remove(value: &mut Value, path: &[Step]) -> bool {
    match parent(value, path) {
        Some((Value::Object(map), Step::Key(k))) => map.remove(&k).is_some(),
        _ => false,
    }
}

fn put(value: &mut Value, path: &[Step], new: Value) -> bool {
    match parent(value, path) {
        Some((Value::Object(map), Step::Key(k))) => {
            map.insert(k, new);
            true
        }
        Some((Value::Array(items), Step::Index(i))) if i < items.len() => {
            items[i] = new;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        retries: Option<Inner>,
        stages: Option<Vec<Stage>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        max_attempts: Option<u32>,
        window_days: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Tone {
        Friendly,
        Firm,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Stage {
        day: u32,
        tone: Tone,
    }

    fn sample() -> Value {
        json!({"stages": [{"day": 0, "tone": "friendly"}]})
    }

    #[test]
    fn every_mistake_is_named_by_its_path_at_once() {
        let given = json!({
            "retries": {"max_atempts": 3, "window_days": "ten", "extra": 1},
            "stages": [
                {"day": 0, "tone": "friendly"},
                {"day": 3, "tone": "angry"},
                {"tone": "firm"},
            ],
            "stagse": [],
        });
        let read = read::<Outer>(given, &sample(), "policy.");
        let errors = read.errors.join("\n");
        for said in [
            "policy.retries.max_atempts: unknown key; did you mean `max_attempts`?",
            "policy.retries.window_days: string \"ten\", expected u32",
            "policy.retries.extra: unknown key (known keys: `max_attempts`, `window_days`)",
            "policy.stages[1].tone: unknown value `angry`, expected `friendly` or `firm`",
            "policy.stages[2].day: required, but missing",
            "policy.stagse: unknown key; did you mean `stages`?",
        ] {
            assert!(errors.contains(said), "{said} missing from:\n{errors}");
        }
        assert_eq!(read.errors.len(), 6, "{errors}");
    }

    #[test]
    fn a_good_value_reads_without_a_word() {
        let read = read::<Outer>(
            json!({"retries": {"max_attempts": 3}, "stages": []}),
            &sample(),
            "policy.",
        );
        assert!(read.errors.is_empty());
        assert!(read.value.is_some());
    }

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let known = ["webhook_secrets", "bind", "public_url", "smtp_url"];
        assert_eq!(closest("webhook_secret", known), Some("webhook_secrets"));
        assert_eq!(closest("bnd", known), Some("bind"));
        assert_eq!(closest("PUBLIC_URL", known), Some("public_url"));
        assert_eq!(closest("colour", known), None);
    }
}
