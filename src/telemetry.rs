//! Logging: `DUNWELL_LOG` (or `RUST_LOG`) picks what is logged, info by
//! default; `DUNWELL_LOG_FORMAT` is `text` (default) or `json` (one JSON
//! object per line, for log shippers). A filter or format that cannot be
//! read is refused at start, saying why: a typo never silences the log.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn,actix_server=warn";

/// The filter the environment asks for.
fn filter() -> Result<EnvFilter, String> {
    let (name, value) = match (std::env::var("DUNWELL_LOG"), std::env::var("RUST_LOG")) {
        (Ok(v), _) => ("DUNWELL_LOG", v),
        (Err(_), Ok(v)) => ("RUST_LOG", v),
        _ => return Ok(EnvFilter::new(DEFAULT_FILTER)),
    };
    if value.trim().is_empty() {
        return Ok(EnvFilter::new(DEFAULT_FILTER));
    }
    EnvFilter::builder().parse(&value).map_err(|e| {
        format!("{name}: {value:?} is not a log filter ({e}); e.g. info, or info,dunwell=debug")
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn format() -> Result<Format, String> {
    match std::env::var("DUNWELL_LOG_FORMAT")
        .as_deref()
        .map(str::trim)
    {
        Err(_) | Ok("") | Ok("text") => Ok(Format::Text),
        Ok("json") => Ok(Format::Json),
        Ok(other) => Err(format!(
            "DUNWELL_LOG_FORMAT: must be text or json, got {other:?}"
        )),
    }
}

/// Sets up the log, or says why the environment's settings cannot be used.
pub fn init() -> Result<(), String> {
    let filter = filter()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format()? {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        Format::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    Ok(())
}

/// For tests: the log goes to the test harness's capture, shown only when
/// a test fails. A second init keeps the first subscriber.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)))
        .with_test_writer()
        .try_init();
}
