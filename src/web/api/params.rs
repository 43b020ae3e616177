//! Reading the API's query parameters: instants and list cursors.

use chrono::{DateTime, NaiveDate};

use super::error::ApiError;

/// `2026-03-01` (midnight UTC) or an RFC 3339 instant, as unix ms.
pub fn instant(key: &str, raw: &str) -> Result<i64, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{key}: expected a date (2026-03-01) or an RFC 3339 time (2026-03-01T09:00:00Z), got {raw:?}"
            ))
        })
}

/// Where the next page starts: after the case opened at `.0` with id `.1`.
pub fn cursor_of(opened_at: i64, id: i64) -> String {
    format!("{opened_at}.{id}")
}

pub fn cursor(raw: &str) -> Result<(i64, i64), ApiError> {
    raw.split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| {
            ApiError::bad_request("cursor: not one this API gave (use next_cursor as it came)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_cursors_read_back() {
        assert_eq!(instant("from", "1970-01-02").unwrap(), 86_400_000);
        assert_eq!(instant("from", "1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(
            instant("from", "yesterday")
                .unwrap_err()
                .to_string()
                .starts_with("from:")
        );
        assert_eq!(cursor(&cursor_of(1_700, 42)).unwrap(), (1_700, 42));
        assert!(cursor("42").is_err());
    }
}
