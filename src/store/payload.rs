//! Stored webhook bodies. On SQLite they are zstd frames: the sample
//! `invoice.payment_failed` of `dunwell trigger` (2.1 KB) takes about 1.0 KB
//! (the README states it; a test checks), which halves what every commit and
//! checkpoint writes (the
//! disk, not the CPU, bounds SQLite intake). PostgreSQL stores text and
//! compresses it itself (TOAST). Reading accepts both, so rows written as
//! plain text stay readable.

use anyhow::Context;

/// Every zstd frame starts with these bytes; JSON text never does.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Fast level: compression must cost less than the I/O it saves.
const LEVEL: i32 = 1;

/// A reusable compressor (it keeps its context between events).
pub struct PayloadCompressor(zstd::bulk::Compressor<'static>);

impl PayloadCompressor {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(zstd::bulk::Compressor::new(LEVEL)?))
    }

    pub fn compress(&mut self, text: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self.0.compress(text.as_bytes())?)
    }
}

/// The body as it was received, from a stored column of either form.
pub fn decode(stored: Vec<u8>) -> anyhow::Result<String> {
    let bytes = if stored.starts_with(&ZSTD_MAGIC) {
        zstd::decode_all(stored.as_slice()).context("decompressing a stored webhook body")?
    } else {
        stored
    };
    String::from_utf8(bytes).context("stored webhook body is not UTF-8")
}

/// Reads the `payload` column of a row of either backend.
pub(super) trait PayloadColumn {
    fn payload(&self) -> anyhow::Result<String>;
}

impl PayloadColumn for sqlx::sqlite::SqliteRow {
    fn payload(&self) -> anyhow::Result<String> {
        use sqlx::Row;
        // A BLOB (compressed) or TEXT (plain) value: take its bytes either way.
        decode(self.try_get_unchecked::<Vec<u8>, _>("payload")?)
    }
}

impl PayloadColumn for sqlx::postgres::PgRow {
    fn payload(&self) -> anyhow::Result<String> {
        use sqlx::Row;
        Ok(self.try_get::<String, _>("payload")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_plain_text() {
        let body = r#"{"id":"evt_1","object":"event","data":{"object":{"id":"in_1"}}}"#;
        let packed = PayloadCompressor::new().unwrap().compress(body).unwrap();
        assert!(packed.starts_with(&ZSTD_MAGIC));
        assert_eq!(decode(packed).unwrap(), body);
        assert_eq!(decode(body.as_bytes().to_vec()).unwrap(), body);
        assert!(decode(vec![0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3]).is_err());
    }
}

#[cfg(test)]
mod size {
    use super::PayloadCompressor;

    /// What the README says a stored `invoice.payment_failed` takes, from
    /// the event `dunwell trigger` sends.
    #[test]
    fn the_readme_states_the_stored_size_of_a_sample_event() {
        let scenario =
            crate::trigger::builder::Scenario::example("evt_1SizeOfASampleEvent0", 1_780_000_000);
        let event = crate::trigger::builder::build("invoice.payment_failed", &scenario).unwrap();
        let body = serde_json::to_string(&event).unwrap();
        let packed = PayloadCompressor::new().unwrap().compress(&body).unwrap();
        let kb = |bytes: usize| bytes as f64 / 1024.0;
        crate::readme_claims::assert_readme_says(&[format!(
            "a {:.1} KB `invoice.payment_failed` takes about {:.1} KB of",
            kb(body.len()),
            kb(packed.len())
        )]);
    }
}
