//! The `Stripe-Signature` header against a body: never a panic, the
//! precheck never refuses what verification accepts, and a header signed
//! over the body always verifies.
#![no_main]

use dunwell::webhooks::signature;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const NOW: i64 = 1_764_000_000;
const TOLERANCE: i64 = 300;

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let secrets = [SecretString::from("whsec_fuzz_0123456789")];
    let verified = signature::verify(Some(header), body, &secrets, NOW, TOLERANCE);
    let prechecked = signature::precheck(Some(header), NOW, TOLERANCE);
    if verified.is_ok() {
        assert!(
            prechecked.is_ok(),
            "precheck refused a header that verifies"
        );
    }
    let timestamp = NOW - (body.len() as i64 % TOLERANCE);
    let genuine = signature::sign(&secrets[0], timestamp, body);
    assert!(signature::verify(Some(&genuine), body, &secrets, NOW, TOLERANCE).is_ok());
});
