//! Processor events, typed. `Envelope::parse` is the cheap check done at
//! intake; `Event::parse` turns a stored payload into something the engine
//! can act on. Both accept the pre-2025-03-31 and the newer ("basil") shapes
//! and ignore fields they do not know.

mod customer;
mod expandable;
mod invoice;
mod payment;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use customer::{CardExpiry, Customer, PaymentMethod, Subscription};
pub use invoice::{Invoice, InvoiceStatus, UpcomingInvoice};
pub use payment::{Charge, DeclineDetails, Dispute, PaymentIntent};

use super::ids::EventId;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("body is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("event {field} is invalid: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("data.object of a {event_type} event does not have the expected shape: {source}")]
    Object {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The fields every event carries, checked before anything is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: EventId,
    pub event_type: String,
    pub api_version: Option<String>,
    pub created: DateTime<Utc>,
    pub livemode: bool,
}

/// Strings as `Cow`: borrowed when the JSON has no escapes, owned when it
/// does (`"\u2603"` cannot be borrowed, and must not make a valid event
/// unreadable).
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    api_version: Option<Cow<'a, str>>,
    created: Option<i64>,
    #[serde(default)]
    livemode: bool,
    #[serde(borrow)]
    data: Option<RawData<'a>>,
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    object: Option<&'a RawValue>,
}

const MAX_TYPE_LEN: usize = 100;

impl Envelope {
    /// Validates the JSON and the envelope fields without building the object.
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        let raw: RawEnvelope<'_> = serde_json::from_slice(payload).map_err(EventError::Json)?;
        let field = |field, reason: &str| EventError::Field {
            field,
            reason: reason.to_owned(),
        };
        let id = EventId::parse(raw.id.as_deref().ok_or_else(|| field("id", "missing"))?)
            .map_err(|e| field("id", &e.to_string()))?;
        let event_type = raw
            .event_type
            .as_deref()
            .ok_or_else(|| field("type", "missing"))?;
        let type_ok = !event_type.is_empty()
            && event_type.len() <= MAX_TYPE_LEN
            && event_type
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b));
        if !type_ok {
            return Err(field("type", "must be a dotted lower-case name"));
        }
        let created = raw
            .created
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or_else(|| field("created", "missing or not a unix timestamp"))?;
        let object = raw
            .data
            .and_then(|d| d.object)
            .ok_or_else(|| field("data.object", "missing"))?;
        if !object.get().starts_with('{') {
            return Err(field("data.object", "must be a JSON object"));
        }
        Ok(Self {
            id,
            event_type: event_type.to_owned(),
            api_version: raw.api_version.map(Cow::into_owned),
            created,
            livemode: raw.livemode,
        })
    }
}

/// What an event says, for the types dunwell acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    InvoicePaymentFailed(Invoice),
    /// `invoice.paid` and `invoice.payment_succeeded`.
    InvoicePaid(Invoice),
    InvoicePaymentActionRequired(Invoice),
    InvoiceVoided(Invoice),
    InvoiceMarkedUncollectible(Invoice),
    InvoiceUpcoming(UpcomingInvoice),
    ChargeFailed(Charge),
    PaymentIntentPaymentFailed(PaymentIntent),
    ChargeDisputeCreated(Dispute),
    /// `charge.dispute.closed`: `status` says who won.
    ChargeDisputeClosed(Dispute),
    CustomerSourceExpiring(PaymentMethod),
    PaymentMethodAttached(PaymentMethod),
    CustomerUpdated {
        customer: Customer,
        /// True when this update changed the default payment method.
        default_payment_method_changed: bool,
    },
    CustomerSubscriptionDeleted(Subscription),
    /// Acknowledged and stored, but not acted on.
    Ignored,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub envelope: Envelope,
    pub kind: EventKind,
}

#[derive(Deserialize)]
struct RawBody<'a> {
    #[serde(borrow)]
    data: RawBodyData<'a>,
}

#[derive(Deserialize)]
struct RawBodyData<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
    #[serde(default, borrow)]
    previous_attributes: Option<&'a RawValue>,
}

impl Event {
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        let envelope = Envelope::parse(payload)?;
        let body: RawBody<'_> = serde_json::from_slice(payload).map_err(EventError::Json)?;
        let object = body.data.object.get();
        let event_type = envelope.event_type.as_str();
        let wrong = |source| EventError::Object {
            event_type: event_type.to_owned(),
            source,
        };
        let kind = match event_type {
            "invoice.payment_failed" => {
                EventKind::InvoicePaymentFailed(invoice::parse(object).map_err(wrong)?)
            }
            "invoice.paid" | "invoice.payment_succeeded" => {
                EventKind::InvoicePaid(invoice::parse(object).map_err(wrong)?)
            }
            "invoice.payment_action_required" => {
                EventKind::InvoicePaymentActionRequired(invoice::parse(object).map_err(wrong)?)
            }
            "invoice.voided" => EventKind::InvoiceVoided(invoice::parse(object).map_err(wrong)?),
            "invoice.marked_uncollectible" => {
                EventKind::InvoiceMarkedUncollectible(invoice::parse(object).map_err(wrong)?)
            }
            "invoice.upcoming" => {
                EventKind::InvoiceUpcoming(invoice::parse_upcoming(object).map_err(wrong)?)
            }
            "charge.failed" => {
                EventKind::ChargeFailed(payment::parse_charge(object).map_err(wrong)?)
            }
            "payment_intent.payment_failed" => EventKind::PaymentIntentPaymentFailed(
                payment::parse_payment_intent(object).map_err(wrong)?,
            ),
            "charge.dispute.created" => {
                EventKind::ChargeDisputeCreated(payment::parse_dispute(object).map_err(wrong)?)
            }
            "charge.dispute.closed" => {
                EventKind::ChargeDisputeClosed(payment::parse_dispute(object).map_err(wrong)?)
            }
            "customer.source.expiring" => EventKind::CustomerSourceExpiring(
                customer::parse_payment_method(object).map_err(wrong)?,
            ),
            "payment_method.attached" => EventKind::PaymentMethodAttached(
                customer::parse_payment_method(object).map_err(wrong)?,
            ),
            "customer.updated" => {
                let customer = customer::parse_customer(object).map_err(wrong)?;
                let default_payment_method_changed = customer::default_payment_method_changed(
                    body.data.previous_attributes.map(RawValue::get),
                )
                .map_err(wrong)?;
                EventKind::CustomerUpdated {
                    customer,
                    default_payment_method_changed,
                }
            }
            "customer.subscription.deleted" => EventKind::CustomerSubscriptionDeleted(
                customer::parse_subscription(object).map_err(wrong)?,
            ),
            _ => EventKind::Ignored,
        };
        Ok(Self { envelope, kind })
    }
}

pub(crate) fn timestamp(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"evt_1","object":"event","type":"ping.test","created":1700000000,"livemode":false,"data":{{"object":{{"id":"x"}}}}{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn envelope_reads_the_common_fields() {
        let env = Envelope::parse(&body(r#","api_version":"2025-03-31.basil""#)).unwrap();
        assert_eq!(env.id.as_str(), "evt_1");
        assert_eq!(env.event_type, "ping.test");
        assert_eq!(env.api_version.as_deref(), Some("2025-03-31.basil"));
        assert_eq!(env.created.timestamp(), 1_700_000_000);
    }

    #[test]
    fn escaped_characters_in_the_envelope_are_read_not_refused() {
        let raw = br#"{"id":"evt_\u0031x","object":"event","type":"invoice\u002epaid","api_version":"2025-03-31.basil\u2603","created":1700000000,"livemode":false,"data":{"object":{"id":"x"}}}"#;
        let env = Envelope::parse(raw).unwrap();
        assert_eq!(env.id.as_str(), "evt_1x");
        assert_eq!(env.event_type, "invoice.paid");
        assert_eq!(env.api_version.as_deref(), Some("2025-03-31.basil\u{2603}"));
    }

    #[test]
    fn envelope_refuses_what_is_not_an_event() {
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"type":"a.b","created":1,"data":{"object":{}}}"#,
            br#"{"id":"cus_1","type":"a.b","created":1,"data":{"object":{}}}"#,
            br#"{"id":"evt_1","type":"A B","created":1,"data":{"object":{}}}"#,
            br#"{"id":"evt_1","type":"a.b","data":{"object":{}}}"#,
            br#"{"id":"evt_1","type":"a.b","created":1,"data":{}}"#,
            br#"{"id":"evt_1","type":"a.b","created":1,"data":{"object":[1]}}"#,
        ] {
            assert!(
                Envelope::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unknown_types_are_ignored_not_errors() {
        let event = Event::parse(&body("")).unwrap();
        assert_eq!(event.kind, EventKind::Ignored);
    }
}
