//! Card-update and receipt link tokens from a URL path: never a panic, a
//! token signed under the secret verifies, and nothing else verifies as a
//! different subject.
#![no_main]

use dunwell::domain::links::{self, LinkSubject, Purpose};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-link-secret-0123456789abcdef0123";
const NOW: i64 = 1_764_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for purpose in [Purpose::Billing, Purpose::Receipt] {
        let _ = links::verify(&[SECRET], token, purpose, NOW);
    }
    // A genuine token for a subject drawn from the input round-trips.
    let id = data
        .iter()
        .fold(0i64, |n, &b| n.wrapping_mul(31).wrapping_add(b as i64))
        .rem_euclid(1 << 40);
    let subject = LinkSubject::Case(id);
    let signed = links::sign(SECRET, &subject, Purpose::Billing, NOW + 60);
    let link =
        links::verify(&[SECRET], &signed, Purpose::Billing, NOW).expect("a genuine token verifies");
    assert_eq!(link.subject, subject);
});
