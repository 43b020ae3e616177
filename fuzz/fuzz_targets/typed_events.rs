//! Every typed event dunwell acts on, from the stored body: never a panic,
//! and routing a parsed event (what the engine does next) never panics.
#![no_main]

use dunwell::domain::events::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::parse(data) {
        let _ = dunwell::engine::route::route(&event);
    }
});
