//! The operator's own words (`templates_dir`, `DUNWELL_TEMPLATES_DIR`): a
//! file `email/<kind>/<lang>.txt` under it replaces what that kind says in
//! that language — the subject line, a blank line, then paragraphs
//! separated by blank lines, exactly like the built-in files — and the
//! layout around it (greeting, summary, button, footer) stays dunwell's.
//!
//! The files are Jinja templates (minijinja) over the same view the
//! built-in ones read, as `m`: `{{ m.amount }}`, `{% if m.plan_name %}`,
//! `{% if m.tone == "firm" %}`. They are read and checked once at start:
//! every file is rendered with a sample case in every tone, and a file that
//! names an unknown kind or language, does not parse, or uses a value the
//! view lacks stops the start with its path and line (`check-config` says
//! the same).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

use super::MailView;
use crate::domain::locale::Locale;
use crate::domain::mail_kind::MailKind;

/// The largest override file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The overrides in force (none by default).
#[derive(Debug, Default)]
pub struct Overrides {
    env: Environment<'static>,
    /// Which (kind, language) has a file of the operator's, and where.
    files: BTreeMap<(&'static str, &'static str), PathBuf>,
}

fn name(kind: MailKind, locale: Locale) -> String {
    format!("email/{}/{}.txt", kind.as_str(), locale.as_str())
}

/// Where an error happened: the file and, when known, the line.
fn place(path: &Path, e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

impl Overrides {
    /// Reads `dir`'s overrides: the files that load, and every problem,
    /// each naming its file.
    pub fn load(dir: &Path) -> (Self, Vec<String>) {
        let mut errors = Vec::new();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Plain text: nothing is escaped (the HTML layout escapes).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        // A value the case lacks (`None`) prints as nothing, never "None".
        env.set_formatter(|out, state, value| {
            if value.is_none() || value.is_undefined() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let mut files = BTreeMap::new();
        let email = dir.join("email");
        if !dir.is_dir() {
            let problem = format!("{} is not a directory", dir.display());
            return (Self::default(), vec![problem]);
        }
        let kinds = match std::fs::read_dir(&email) {
            Ok(kinds) => kinds,
            Err(e) => {
                let problem = format!(
                    "{} cannot be read ({e}); overrides live in email/<kind>/<lang>.txt under it",
                    email.display()
                );
                return (Self::default(), vec![problem]);
            }
        };
        for kind_dir in kinds.flatten() {
            let kind_path = kind_dir.path();
            let kind_name = kind_dir.file_name().to_string_lossy().into_owned();
            if kind_name.starts_with('.') {
                continue;
            }
            let is_dir = std::fs::symlink_metadata(&kind_path).is_ok_and(|m| m.is_dir());
            let Some(kind) = MailKind::parse(&kind_name).filter(|_| is_dir) else {
                let known: Vec<_> = MailKind::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(format!(
                    "{}: not an email kind dunwell writes ({})",
                    kind_path.display(),
                    known.join(", ")
                ));
                continue;
            };
            let Ok(langs) = std::fs::read_dir(&kind_path) else {
                errors.push(format!("{}: cannot be read", kind_path.display()));
                continue;
            };
            for file in langs.flatten() {
                let path = file.path();
                let file_name = file.file_name().to_string_lossy().into_owned();
                // Editors' and file managers' leftovers are not templates.
                if file_name.starts_with('.') || file_name.ends_with('~') {
                    continue;
                }
                // A plain file of a sensible size, never a link: a link to
                // the environment or a secret would mail it to customers.
                match std::fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE_BYTES => {}
                    Ok(meta) if meta.is_file() => {
                        errors.push(format!(
                            "{}: {} bytes; at most {MAX_FILE_BYTES}",
                            path.display(),
                            meta.len()
                        ));
                        continue;
                    }
                    _ => {
                        errors.push(format!(
                            "{}: not a plain file (links are not followed)",
                            path.display()
                        ));
                        continue;
                    }
                }
                let locale = file_name
                    .strip_suffix(".txt")
                    .and_then(|tag| Locale::parse(tag).filter(|l| l.as_str() == tag));
                let Some(locale) = locale else {
                    errors.push(format!(
                        "{}: name it <lang>.txt, one of en, de, fr, es, pt, pt-BR",
                        path.display()
                    ));
                    continue;
                };
                let source = match std::fs::read_to_string(&path) {
                    // Windows line endings: the blank lines still part blocks.
                    Ok(source) => source.replace("\r\n", "\n"),
                    Err(e) => {
                        errors.push(format!("{}: cannot be read ({e})", path.display()));
                        continue;
                    }
                };
                if let Err(e) = env.add_template_owned(name(kind, locale), source) {
                    errors.push(format!(
                        "{}: {}",
                        place(&path, &e),
                        e.detail().unwrap_or(&e.to_string())
                    ));
                    continue;
                }
                files.insert((kind.as_str(), locale.as_str()), path);
            }
        }
        (Self { env, files }, errors)
    }

    /// Renders every override with `sample` views of its language in every
    /// tone: each problem names the file and line.
    pub fn check(&self, sample: &dyn Fn(&'static str, Locale) -> MailView) -> Vec<String> {
        let mut errors = Vec::new();
        for ((kind, lang), path) in &self.files {
            let (Some(kind), Some(locale)) = (MailKind::parse(kind), Locale::parse(lang)) else {
                continue;
            };
            // Every tone, with every optional value present and absent.
            let views = ["friendly", "firm", "final"].into_iter().flat_map(|tone| {
                let full = sample(tone, locale);
                let bare = MailView {
                    name: None,
                    plan_name: None,
                    invoice_number: None,
                    next_retry: None,
                    invoice_url: None,
                    upsell: None,
                    offer_plan: None,
                    offer_price: None,
                    offers: Vec::new(),
                    ..full.clone()
                };
                [(tone, full), (tone, bare)]
            });
            for (tone, view) in views {
                match self.content(kind, &view) {
                    Some(Ok(text)) => {
                        let mut blocks = text.split("\n\n").filter(|b| !b.trim().is_empty());
                        let subject = blocks.next().unwrap_or_default().trim();
                        let problem = if subject.is_empty() {
                            Some("renders no subject".to_owned())
                        } else if subject.chars().count() > 200 || subject.contains('\n') {
                            Some("the first block (the subject) must be one line of at most 200 characters, then a blank line".to_owned())
                        } else if blocks.next().is_none() {
                            Some("renders no paragraph after the subject (separate blocks with a blank line)".to_owned())
                        } else {
                            None
                        };
                        if let Some(problem) = problem {
                            errors.push(format!("{}: {problem} (tone {tone})", path.display()));
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        errors.push(format!("{e} (tone {tone})"));
                        break;
                    }
                    None => {}
                }
            }
        }
        errors
    }

    /// What the operator's file for `kind` in the view's language says,
    /// if there is one.
    pub fn content(&self, kind: MailKind, m: &MailView) -> Option<Result<String, String>> {
        let path = self.files.get(&(kind.as_str(), m.locale.as_str()))?;
        let template = match self.env.get_template(&name(kind, m.locale)) {
            Ok(t) => t,
            Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
        };
        Some(
            template
                .render(minijinja::context! { m => minijinja::Value::from_serialize(m) })
                .map_err(|e| {
                    format!(
                        "{}: {}",
                        place(path, &e),
                        e.detail().unwrap_or(&e.to_string())
                    )
                }),
        )
    }

    /// How many files override the built-in words.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
