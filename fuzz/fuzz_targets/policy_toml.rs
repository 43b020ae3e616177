//! The `[policy]` table of dunwell.toml: never a panic while reading or
//! validating it, and a policy that validates can be summarised.
#![no_main]

use dunwell::domain::policy::RawPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = toml::from_str::<RawPolicy>(text) else {
        return;
    };
    if let Ok(policy) = raw.validate() {
        let _ = policy.summary();
    }
});
