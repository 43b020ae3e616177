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

/// A lesson (`lessons`) speaks only when each group of retries it
/// compares holds this many outcomes.
pub const LESSON_MIN_OUTCOMES: u32 = 200;

/// Early retries (days 0–3 after the failure) that pay this many times as
/// often as later ones bring the first retry within
/// `EARLY_FIRST_RETRY_DAYS`.
pub const EARLY_LIFT: f64 = 1.25;
pub const EARLY_FIRST_RETRY_DAYS: i64 = 2;

/// What a retry made when no payday passed since the try before is taken
/// to pay before the install's own say (`today`'s 3% a day outside
/// paydays, and a little more); from the first of `BETWEEN_PAYDAYS_PAYS`
/// one more try is spread, from the second two. (The default's funds
/// retries between paydays pay about 9% on the `today` model, 20% on
/// `off-payday`.)
pub const PRIOR_BETWEEN_PAYDAYS: f64 = 0.05;
pub const BETWEEN_PAYDAYS_PAYS: [f64; 2] = [0.12, 0.18];

/// Retries after a likely payday that pay less than this many times as
/// often as retries between paydays: paydays make little difference, and
/// a try no longer waits for one.
pub const PAYDAYS_MATTER_FROM: f64 = 1.25;

/// A generic decline gets one short back-off before paydays where retries
/// within 48 hours of the try before paid at least `SOON_AFTER_PAYS` and
/// `SOON_LIFT` times as often as retries after longer waits (blocks that
/// pass quickly; where blocks last days, quick retries pay less).
pub const SOON_AFTER_PAYS: f64 = 0.15;
pub const SOON_LIFT: f64 = 1.2;

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

    #[test]
    fn the_readme_states_the_lessons_as_the_planner_reads_them() {
        crate::readme_claims::assert_readme_says(&[
            format!("hold at least {LESSON_MIN_OUTCOMES} outcomes"),
            format!(
                "retries between paydays that pay {:.0}% (shrunk toward {:.0}%) spread one more try, from {:.0}% two",
                BETWEEN_PAYDAYS_PAYS[0] * 100.0,
                PRIOR_BETWEEN_PAYDAYS * 100.0,
                BETWEEN_PAYDAYS_PAYS[1] * 100.0
            ),
            format!("that pay less than {PAYDAYS_MATTER_FROM}× those between paydays"),
            format!(
                "retries in the first 3 days that pay {EARLY_LIFT}× later ones bring the first retry within {EARLY_FIRST_RETRY_DAYS} days"
            ),
            format!(
                "within 48 h of the try before paid at least {:.0}% and {SOON_LIFT}× those after longer waits",
                SOON_AFTER_PAYS * 100.0
            ),
        ]);
    }
}
