//! The event envelope (checked at intake, before anything is stored):
//! never a panic, and whatever a typed parse accepts the envelope accepts.
#![no_main]

use dunwell::domain::events::{Envelope, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let envelope = Envelope::parse(data);
    if Event::parse(data).is_ok() {
        assert!(
            envelope.is_ok(),
            "an event parses but its envelope does not"
        );
    }
});
