//! Schemas the OpenAPI document cannot derive from a type: the values a
//! field takes when they come from a table (time zones, countries).

use utoipa::openapi::schema::{ObjectBuilder, Type};

/// A string, or null (the field may be left out or given as null).
fn nullable_string() -> utoipa::openapi::schema::SchemaType {
    utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
}

/// An IANA time zone dunwell knows (`Europe/Lisbon`), or null.
pub fn timezone_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(nullable_string())
        .enum_values(Some(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| serde_json::Value::from(tz.name()))
                .chain([serde_json::Value::Null]),
        ))
        .description(Some(
            "The customer's IANA time zone (default: from country, else the policy's)",
        ))
        .build()
}

/// A country whose time zone dunwell can guess (two capital letters), or
/// null.
pub fn country_schema() -> utoipa::openapi::Object {
    let letters = || b'A'..=b'Z';
    let known: Vec<String> = letters()
        .flat_map(|a| letters().map(move |b| String::from_utf8(vec![a, b]).unwrap_or_default()))
        .filter(|code| crate::domain::zones::of_country(code).is_some())
        .collect();
    ObjectBuilder::new()
        .schema_type(nullable_string())
        .enum_values(Some(
            known
                .into_iter()
                .map(serde_json::Value::from)
                .chain([serde_json::Value::Null]),
        ))
        .description(Some(
            "The customer's country (two letters), to guess a time zone",
        ))
        .build()
}

/// A list of RFC 3339 instants (`2026-03-01T09:00:00Z`).
pub fn instants_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, SchemaFormat};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .max_items(Some(100))
        .description(Some(
            "The customer's earlier successful payments (RFC 3339)",
        ))
        .build()
}
