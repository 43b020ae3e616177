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

/// What the floor assumes a retry pays before the install has outcomes of
/// its own (about what the default's retries pay on the `today` model).
pub const PRIOR_RETRY_PAYS: f64 = 0.2;

/// Where the install's own retries pay more than the prior, more tries are
/// worth their cost: one more floor try from this rate, two from the next
/// (never past `max_attempts`). A model where money comes outside paydays
/// (`off-payday`: about 0.3) is one such install.
pub const MORE_TRIES_FROM: [f64; 2] = [0.24, 0.28];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_states_when_learning_adds_tries() {
        crate::readme_claims::assert_readme_says(&[
            format!("prior ({:.0}%", PRIOR_RETRY_PAYS * 100.0),
            format!(
                "one more try when they pay {:.0}%, two from {:.0}%",
                MORE_TRIES_FROM[0] * 100.0,
                MORE_TRIES_FROM[1] * 100.0
            ),
        ]);
    }
}
