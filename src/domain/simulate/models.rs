//! Named population models: what is not known about customers, spelled
//! out. `today` is the population `simulate` has always generated; every
//! other model changes one assumption (or, `skeptic`, all the payday ones at
//! once) in a direction the data in the field does not rule out. A default
//! policy has to hold up under all of them: `simulate --model all` plays
//! every schedule on every model and reports each one's regret. Pure.

/// How customers' pay cycles are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycles {
    /// From the country's norms (`paydays::country_norms`), 10% foreign.
    CountryNorms,
    /// Evenly from every cycle any country has, whatever the country.
    Mixed,
}

/// What `do_not_honor` / `generic_decline` hide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generic {
    /// Funds 50%, a passing issuer block 25% (40% a try), a dead card 25%.
    Today,
    /// Funds 40%, an issuer block that lasts a day or more 45% (a try in
    /// it pays 3%, after it 70%), a dead card 15%.
    LongBlocks,
}

/// One picture of the customers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub name: &'static str,
    /// What it assumes, beyond (or instead of) `today`'s assumptions.
    pub differs: &'static str,
    /// Chance a funds-short customer has the money on any other local day.
    pub off_payday: f64,
    pub cycles: Cycles,
    pub generic: Generic,
    /// Multiplies every customer's readiness to act on an email.
    pub email: f64,
}

pub const TODAY: Model = Model {
    name: "today",
    differs: "the assumptions listed above (country pay-cycle norms, 3% outside paydays)",
    off_payday: 0.03,
    cycles: Cycles::CountryNorms,
    generic: Generic::Today,
    email: 1.0,
};

/// The ensemble, `today` first.
pub const MODELS: &[Model] = &[
    TODAY,
    Model {
        name: "off-payday",
        differs: "money appears outside paydays far more often: 15% on any other day (transfers, top-ups, limits reset)",
        off_payday: 0.15,
        ..TODAY
    },
    Model {
        name: "mixed-cycles",
        differs: "pay cycles drawn evenly from every cycle (weekly, fortnightly, twice a month, monthly on the 1st, 15th, 25th or last business day), whatever the country",
        cycles: Cycles::Mixed,
        ..TODAY
    },
    Model {
        name: "long-blocks",
        differs: "do_not_honor/generic_decline: funds 40%, an issuer block lasting 1-4 days 45% (a try inside it pays 3%, after it 70%), a dead card 15%",
        generic: Generic::LongBlocks,
        ..TODAY
    },
    Model {
        name: "responsive",
        differs: "customers act on emails twice as readily",
        email: 2.0,
        ..TODAY
    },
    Model {
        name: "unresponsive",
        differs: "customers act on emails a third as readily",
        email: 1.0 / 3.0,
        ..TODAY
    },
    Model {
        name: "skeptic",
        differs: "everything the payday theory assumes is off at once: 12% outside paydays, cycles mixed evenly, generic declines as long blocks",
        off_payday: 0.12,
        cycles: Cycles::Mixed,
        generic: Generic::LongBlocks,
        ..TODAY
    },
];

/// The model called `name`.
pub fn by_name(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

/// The names, for an error that lists them.
pub fn names() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_today_comes_first() {
        assert_eq!(MODELS[0], TODAY);
        assert!(MODELS.len() >= 5);
        for (i, m) in MODELS.iter().enumerate() {
            assert_eq!(by_name(m.name), Some(m));
            assert!(MODELS[..i].iter().all(|o| o.name != m.name));
            assert!(!m.differs.is_empty());
        }
        assert_eq!(by_name("nope"), None);
    }
}
