//! A budget for log lines about refused webhooks: a flood of bad requests
//! must not flood the log. At most `per_window` lines per window; the first
//! line of the next window says how many were left out.

use std::sync::Mutex;

#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Log this one; `suppressed` lines were left out before it.
    Log {
        suppressed: u64,
    },
    Skip,
}

#[derive(Debug)]
pub struct LogBudget {
    per_window: u64,
    window_secs: i64,
    state: Mutex<(i64, u64, u64)>, // (window start, logged, suppressed)
}

impl LogBudget {
    pub const fn new(per_window: u64, window_secs: i64) -> Self {
        Self {
            per_window,
            window_secs,
            state: Mutex::new((i64::MIN, 0, 0)),
        }
    }

    pub fn admit(&self, now_secs: i64) -> Admit {
        let Ok(mut state) = self.state.lock() else {
            return Admit::Skip;
        };
        let (start, logged, suppressed) = &mut *state;
        if now_secs.saturating_sub(*start) >= self.window_secs {
            *start = now_secs;
            *logged = 0;
        }
        if *logged < self.per_window {
            *logged += 1;
            return Admit::Log {
                suppressed: std::mem::take(suppressed),
            };
        }
        *suppressed += 1;
        Admit::Skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_a_few_lines_then_says_how_many_it_left_out() {
        let budget = LogBudget::new(3, 60);
        let logged = (0..1000)
            .filter(|_| budget.admit(100) != Admit::Skip)
            .count();
        assert_eq!(logged, 3);
        assert_eq!(budget.admit(159), Admit::Skip);
        assert_eq!(budget.admit(160), Admit::Log { suppressed: 998 });
        assert_eq!(budget.admit(161), Admit::Log { suppressed: 0 });
    }
}
