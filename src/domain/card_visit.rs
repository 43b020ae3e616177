//! A customer's trip to the processor's card page and what came of it.
//!
//! The billing page's button (a POST) opens a visit, named by a random id
//! in the return URL. The return (`/done`) spends the visit once: it asks
//! the processor for the customer's card and, for a card this invoice has
//! not seen, brings one charge through the case's gate. However often the
//! return is loaded, a visit is spent once; the billing page then shows
//! what came of it, read from the case and its planned work.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::case::{Case, CaseState};
use super::ids::CaseId;

/// While a charge is this close (or the processor's answer this young),
/// the page says the result is on its way and offers to check again.
pub const REFRESH_WINDOW: Duration = Duration::minutes(10);

/// What the return from the card page found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A payment method this invoice has not seen: a charge is planned
    /// (now, or as soon as the gate allows).
    NewMethod,
    /// No payment method on file, as far as the processor says.
    NothingNew,
    /// The method on file was already refused or charged on this invoice.
    AlreadyTried,
    /// The processor could not be asked; its webhook for the new card
    /// brings the charge.
    Unknown,
}

impl Found {
    pub const ALL: [Self; 4] = [
        Self::NewMethod,
        Self::NothingNew,
        Self::AlreadyTried,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewMethod => "new_method",
            Self::NothingNew => "nothing_new",
            Self::AlreadyTried => "already_tried",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// A stored visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardVisit {
    pub id: String,
    pub case_id: Option<CaseId>,
    pub customer_id: String,
    pub opened_at: DateTime<Utc>,
    /// The case's own retries when the customer left: more since means the
    /// new card was charged.
    pub retries_before: u32,
    /// The payment methods the invoice had seen when the customer left:
    /// coming back with one of them is no new card.
    pub known_methods: BTreeSet<String>,
    /// Set once, by the return that spent the visit.
    pub returned: Option<Returned>,
}

/// What the return that spent a visit saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    pub at: DateTime<Utc>,
    pub method: Option<String>,
    pub found: Found,
}

/// What the return found: `asked` is the processor's answer (its default
/// payment method; an error when it could not be asked).
pub fn found<E>(visit: &CardVisit, asked: &Result<Option<String>, E>) -> Found {
    match asked {
        Err(_) => Found::Unknown,
        Ok(None) => Found::NothingNew,
        Ok(Some(m)) if visit.known_methods.contains(m) => Found::AlreadyTried,
        Ok(Some(_)) => Found::NewMethod,
    }
}

/// What the billing page tells the customer after a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitOutcome {
    /// The invoice is paid.
    Paid,
    /// The new card was charged and refused.
    Declined,
    /// The charge is under way: the page offers to check again.
    Charging,
    /// The gate puts the charge later (the card's caps and gaps).
    ChargeOn(DateTime<Utc>),
    /// Saved; the charge comes when the processor (or its webhook) says so:
    /// an email tells the result.
    Saved,
    /// The card on file was already refused on this invoice.
    AlreadyTried,
    /// No card on file to charge.
    NoNewCard,
    /// The processor could not be asked yet: the page offers to check
    /// again for a while.
    Checking,
}

impl VisitOutcome {
    /// The result is on its way: the page offers a "check again" link (no
    /// automatic refresh, which WCAG 2.2.1 rules out, and no script).
    pub fn refreshes(self) -> bool {
        matches!(self, Self::Charging | Self::Checking)
    }
}

/// What came of a spent visit, from the case as it stands now, its next
/// planned charge and the engine's `now`. `None`: the visit was not spent
/// (nothing to say) or the case ended otherwise (the page says how).
pub fn outcome(
    visit: &CardVisit,
    case: Option<&Case>,
    next_charge: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<VisitOutcome> {
    let returned = visit.returned.as_ref()?;
    let case = case?;
    match case.state {
        CaseState::Recovered => return Some(VisitOutcome::Paid),
        s if s.is_terminal() => return None,
        _ => {}
    }
    let young = now - returned.at < REFRESH_WINDOW;
    Some(match returned.found {
        Found::AlreadyTried => VisitOutcome::AlreadyTried,
        Found::NothingNew => VisitOutcome::NoNewCard,
        Found::NewMethod | Found::Unknown if case.retries_made > visit.retries_before => {
            VisitOutcome::Declined
        }
        found => match next_charge {
            Some(at) if at <= now + REFRESH_WINDOW && young => VisitOutcome::Charging,
            Some(at) if at > now + REFRESH_WINDOW => VisitOutcome::ChargeOn(at),
            _ if found == Found::Unknown && young => VisitOutcome::Checking,
            _ => VisitOutcome::Saved,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case::CaseState;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn case(state: CaseState, retries_made: u32) -> Case {
        Case {
            state,
            paused_from: None,
            opened_at: at(-10_000),
            attempts: Vec::new(),
            retries_made,
            latest: None,
            thanked: false,
            cause: None,
            customer_acted: None,
            recovered_by: None,
            recovered_on_retry: None,
            processor_retrying: false,
            invoice_attempts: 1,
            methods: Default::default(),
        }
    }

    fn back(found: Found) -> CardVisit {
        CardVisit {
            id: "v1".into(),
            case_id: Some(CaseId::new(1)),
            customer_id: "cus_1".into(),
            opened_at: at(-5),
            retries_before: 1,
            known_methods: ["pm_old".to_owned()].into(),
            returned: Some(Returned {
                at: at(0),
                method: Some("pm_new".into()),
                found,
            }),
        }
    }

    #[test]
    fn a_new_card_is_charging_then_paid_or_declined() {
        let r = back(Found::NewMethod);
        let waiting = case(CaseState::Retrying, 1);
        assert_eq!(
            outcome(&r, Some(&waiting), Some(at(0)), at(1)),
            Some(VisitOutcome::Charging)
        );
        assert!(VisitOutcome::Charging.refreshes());
        let refused = case(CaseState::AwaitingCustomer, 2);
        assert_eq!(
            outcome(&r, Some(&refused), None, at(2)),
            Some(VisitOutcome::Declined)
        );
        let paid = case(CaseState::Recovered, 2);
        assert_eq!(
            outcome(&r, Some(&paid), None, at(2)),
            Some(VisitOutcome::Paid)
        );
    }

    #[test]
    fn a_charge_the_gate_puts_later_is_named_and_nothing_refreshes_for_ever() {
        let r = back(Found::NewMethod);
        let waiting = case(CaseState::Retrying, 1);
        assert_eq!(
            outcome(&r, Some(&waiting), Some(at(60 * 20)), at(1)),
            Some(VisitOutcome::ChargeOn(at(60 * 20)))
        );
        // A charge that should have run long ago (no runner): no endless
        // refreshing, the email will tell.
        assert_eq!(
            outcome(&r, Some(&waiting), Some(at(0)), at(30)),
            Some(VisitOutcome::Saved)
        );
        let unknown = back(Found::Unknown);
        assert_eq!(
            outcome(&unknown, Some(&waiting), None, at(1)),
            Some(VisitOutcome::Checking)
        );
        assert_eq!(
            outcome(&unknown, Some(&waiting), None, at(11)),
            Some(VisitOutcome::Saved)
        );
    }

    #[test]
    fn a_card_already_refused_or_none_at_all_says_so_and_an_ended_case_says_nothing() {
        let waiting = case(CaseState::AwaitingCustomer, 1);
        assert_eq!(
            outcome(&back(Found::AlreadyTried), Some(&waiting), None, at(1)),
            Some(VisitOutcome::AlreadyTried)
        );
        assert_eq!(
            outcome(&back(Found::NothingNew), Some(&waiting), None, at(1)),
            Some(VisitOutcome::NoNewCard)
        );
        let closed = case(CaseState::Canceled, 1);
        assert_eq!(
            outcome(&back(Found::NewMethod), Some(&closed), None, at(1)),
            None
        );
        let open = CardVisit {
            returned: None,
            ..back(Found::NewMethod)
        };
        assert_eq!(outcome(&open, Some(&waiting), None, at(1)), None);
        let asked = |m: &str| Ok::<_, ()>(Some(m.to_owned()));
        assert_eq!(found(&open, &asked("pm_old")), Found::AlreadyTried);
        assert_eq!(found(&open, &asked("pm_new")), Found::NewMethod);
        assert_eq!(found(&open, &Ok::<_, ()>(None)), Found::NothingNew);
        assert_eq!(found(&open, &Err(())), Found::Unknown);
        for f in Found::ALL {
            assert_eq!(Found::parse(f.as_str()), Some(f));
        }
    }
}
