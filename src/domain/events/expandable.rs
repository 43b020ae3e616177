//! Stripe fields that hold either an id or, when expanded, the whole object.

use serde::{Deserialize, Deserializer};

/// Deserializes `"cus_1"` or `{"id": "cus_1", ...}` into the id string.
pub(super) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrObject {
        Id(String),
        Object { id: Option<String> },
    }
    Ok(match Option::<IdOrObject>::deserialize(d)? {
        Some(IdOrObject::Id(id)) => Some(id),
        Some(IdOrObject::Object { id }) => id,
        None => None,
    })
}

/// Turns an optional raw id into a typed one, or a serde error naming the field.
pub(super) fn typed<T, E: std::fmt::Display>(
    raw: Option<String>,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<Option<T>, serde_json::Error> {
    raw.filter(|s| !s.is_empty())
        .map(parse)
        .transpose()
        .map_err(|e| serde::de::Error::custom(format!("{field}: {e}")))
}

/// Like `typed`, for fields that must be present.
pub(super) fn required<T, E: std::fmt::Display>(
    raw: Option<String>,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<T, serde_json::Error> {
    typed(raw, field, parse)?.ok_or_else(|| serde::de::Error::custom(format!("{field} is missing")))
}
