//! The planner's own numbers, in one place: how many tries the floor
//! spreads over the window, how soon a funds decline's first retry comes,
//! how long a generic decline is treated as a passing block and how long
//! its back-offs are. `Tuning::DEFAULT` was chosen for the worst
//! case over the ensemble of population models (`dunwell simulate --model
//! all`; `choose::the_default_has_the_smallest_worst_regret` replays the
//! choice). Not a policy key: operators set the budget and the window; the
//! install's own outcomes move the slots (`learned`).

/// The planner's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// The tries the floor spreads over a whole window.
    pub spread_tries: u32,
    /// A funds decline's first retry comes before this many days.
    pub first_retry_days: i64,
    /// Short back-offs a generic decline gets before paydays.
    pub generic_short_tries: usize,
    /// A generic decline's back-offs, by how many so far (the last one
    /// repeats).
    pub generic_backoff_hours: [i64; 2],
}

impl Tuning {
    pub const DEFAULT: Self = Self {
        spread_tries: 4,
        first_retry_days: 4,
        generic_short_tries: 0,
        generic_backoff_hours: [24, 48],
    };
}

impl Default for Tuning {
    fn default() -> Self {
        Self::DEFAULT
    }
}
