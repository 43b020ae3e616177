//! Adds up played invoices per strategy: recovered count and revenue,
//! attempts per failure, days to recovery, network-rule violations, and
//! the same by kind of refusal.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Scenario;
use super::play::Played;
use crate::domain::decline::{DeclineCategory, classify};

/// The kind of refusal, for the breakdown.
pub fn group_of(scenario: &Scenario) -> &'static str {
    let c = classify(&scenario.decline);
    match (c.code.as_str(), c.category) {
        ("insufficient_funds", _) => "insufficient_funds",
        ("do_not_honor" | "generic_decline", DeclineCategory::Transient) => "do_not_honor/generic",
        (_, DeclineCategory::Funds) => "other funds",
        (_, DeclineCategory::Transient) => "issuer errors",
        (_, DeclineCategory::Hard) => "hard",
        (_, DeclineCategory::CustomerAction) => "authentication",
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Money {
    pub total_minor: i64,
    pub recovered_minor: i64,
    pub invoices: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Group {
    pub invoices: u64,
    pub recovered: u64,
    pub attempts: u64,
}

impl Group {
    /// "recovered share (attempts per failure)", as the CLI and the
    /// dashboard show a kind of refusal.
    pub fn cell(&self) -> String {
        let n = self.invoices.max(1) as f64;
        format!(
            "{:.1}% ({:.2})",
            self.recovered as f64 * 100.0 / n,
            self.attempts as f64 / n
        )
    }
}

/// One strategy's results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub name: String,
    pub invoices: u64,
    pub recovered: u64,
    pub attempts: u64,
    pub violations: u64,
    pub first_violation: Option<String>,
    /// Per currency (lower-case code).
    pub revenue: BTreeMap<String, Money>,
    pub groups: BTreeMap<&'static str, Group>,
    #[serde(skip)]
    days: Vec<f64>,
}

impl Tally {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn add(&mut self, scenario: &Scenario, played: &Played) {
        self.invoices += 1;
        self.attempts += u64::from(played.attempts);
        self.violations += u64::from(played.violations);
        if self.first_violation.is_none() {
            self.first_violation.clone_from(&played.violation);
        }
        let money = self.revenue.entry(scenario.currency.clone()).or_default();
        money.invoices += 1;
        money.total_minor += scenario.amount_minor;
        let group = self.groups.entry(group_of(scenario)).or_default();
        group.invoices += 1;
        group.attempts += u64::from(played.attempts);
        if let Some(at) = played.recovered_at {
            self.recovered += 1;
            money.recovered_minor += scenario.amount_minor;
            group.recovered += 1;
            self.days
                .push((at - scenario.failed_at).num_minutes() as f64 / (24.0 * 60.0));
        }
    }

    /// Recovered revenue as a share of failed revenue: per currency, then
    /// weighted by each currency's number of invoices (amounts in
    /// different currencies are never added up).
    pub fn revenue_share(&self) -> f64 {
        let weighted: f64 = self
            .revenue
            .values()
            .filter(|m| m.total_minor > 0)
            .map(|m| m.recovered_minor as f64 / m.total_minor as f64 * m.invoices as f64)
            .sum();
        weighted / self.invoices.max(1) as f64
    }

    pub fn recovered_share(&self) -> f64 {
        self.recovered as f64 / self.invoices.max(1) as f64
    }

    pub fn attempts_per_failure(&self) -> f64 {
        self.attempts as f64 / self.invoices.max(1) as f64
    }

    pub fn median_days(&self) -> Option<f64> {
        let mut days = self.days.clone();
        days.sort_by(f64::total_cmp);
        days.get(days.len() / 2).copied()
    }

    pub fn mean_days(&self) -> Option<f64> {
        (!self.days.is_empty()).then(|| self.days.iter().sum::<f64>() / self.days.len() as f64)
    }

    /// The figures as `--json` prints them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("plain data");
        let extra = serde_json::json!({
            "recovered_share": self.recovered_share(),
            "revenue_share": self.revenue_share(),
            "attempts_per_failure": self.attempts_per_failure(),
            "median_days_to_recover": self.median_days(),
            "mean_days_to_recover": self.mean_days(),
        });
        if let (Some(map), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
            map.extend(more);
        }
        value
    }
}

/// The comparison table as `dunwell simulate` prints it.
pub fn table(tallies: &[Tally]) -> String {
    let mut out = String::new();
    let width = tallies
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    out.push_str(&format!(
        "{:width$}  {:>9}  {:>8}  {:>8}  {:>9}  {:>9}  {:>10}\n",
        "strategy", "recovered", "revenue", "attempts", "days med", "days mean", "violations"
    ));
    for t in tallies {
        let days = |d: Option<f64>| d.map_or("-".to_owned(), |d| format!("{d:.1}"));
        out.push_str(&format!(
            "{:width$}  {:>8.1}%  {:>7.1}%  {:>8.2}  {:>9}  {:>9}  {:>10}\n",
            t.name,
            t.recovered_share() * 100.0,
            t.revenue_share() * 100.0,
            t.attempts_per_failure(),
            days(t.median_days()),
            days(t.mean_days()),
            t.violations,
        ));
    }
    out.push_str("\nrecovered (attempts per failure) by kind of refusal:\n");
    let groups: Vec<&str> = tallies
        .first()
        .map(|t| t.groups.keys().copied().collect())
        .unwrap_or_default();
    out.push_str(&format!("{:width$}", ""));
    for g in &groups {
        out.push_str(&format!("  {g:>20}"));
    }
    out.push('\n');
    for t in tallies {
        out.push_str(&format!("{:width$}", t.name));
        for g in &groups {
            let cell = t.groups.get(g).cloned().unwrap_or_default().cell();
            out.push_str(&format!("  {cell:>20}"));
        }
        out.push('\n');
    }
    let counts: Vec<String> = groups
        .iter()
        .map(|g| {
            let n = tallies[0].groups[g].invoices;
            format!("{g} {n}")
        })
        .collect();
    out.push_str(&format!("invoices: {}\n", counts.join(", ")));
    for t in tallies.iter().filter(|t| t.violations > 0) {
        if let Some(why) = &t.first_violation {
            out.push_str(&format!("{}: first violation: {why}\n", t.name));
        }
    }
    out
}
