//! The customer's email and name when the events lacked them (a
//! `customer.source.expiring` for a customer seen in no invoice, an invoice
//! without `customer_email`): read once from the processor
//! (`GET /v1/customers/{id}`) and cached in the database.

use crate::domain::ids::CustomerId;
use crate::domain::locale::Locale;
use crate::engine::Engine;
use crate::processor::ProcessorError;
use crate::store::customers::CustomerInfo;
use anyhow::Context;

/// What is known of the customer, or why it could not be learned now.
pub enum Contact {
    Known(CustomerInfo),
    /// The processor could not tell us: try again later.
    Unavailable(ProcessorError),
}

/// Who an email goes to: `known` (the address the events gave) as it is,
/// else what the processor says of the customer (`contact`).
pub async fn addressee(
    engine: &Engine,
    customer_id: &str,
    known: Option<&str>,
) -> anyhow::Result<Contact> {
    match known {
        Some(email) => Ok(Contact::Known(CustomerInfo {
            email: Some(email.to_owned()),
            ..CustomerInfo::default()
        })),
        None => contact(engine, customer_id).await,
    }
}

/// How an email greets someone called `name`: by the first word.
pub fn first_name(name: &str) -> Option<&str> {
    name.split_whitespace().next()
}

/// The customer's contact details: cached, else read and cached.
pub async fn contact(engine: &Engine, customer_id: &str) -> anyhow::Result<Contact> {
    let store = &engine.store;
    // The simulation keeps no customers: nothing to read or remember.
    if matches!(engine.processor, crate::processor::Processor::Simulated(_)) {
        return Ok(Contact::Known(CustomerInfo::default()));
    }
    let cached = store
        .cached_customer(customer_id)
        .await
        .with_context(|| format!("reading the cached customer {customer_id}"))?;
    if let Some(info) = cached {
        return Ok(Contact::Known(info));
    }
    let id = CustomerId::parse(customer_id)
        .with_context(|| format!("the customer id {customer_id:?}"))?;
    let info = match engine.processor.get_customer(&id).await {
        Ok(Some(customer)) => CustomerInfo {
            locale: Locale::first_of(customer.preferred_locales.iter().map(String::as_str))
                .map(|l| l.as_str().to_owned()),
            email: customer.email,
            name: customer.name,
            country: customer.country,
        },
        Ok(None) => CustomerInfo::default(),
        Err(e) => return Ok(Contact::Unavailable(e)),
    };
    tracing::info!(
        customer_id,
        found = info.email.is_some(),
        "read the customer from the processor"
    );
    store
        .cache_customer(customer_id, &info, engine.clock.now_ms())
        .await
        .with_context(|| format!("caching customer {customer_id}"))?;
    Ok(Contact::Known(info))
}

/// Who an email goes to, by what name, in which language: the events'
/// address first, else the processor's (read once, cached). The language
/// is the customer's first shipped preference, else the policy's default;
/// a processor that cannot answer now holds up only an email with no
/// address at all.
pub async fn recipient(
    engine: &Engine,
    customer_id: &str,
    known: Option<&str>,
) -> anyhow::Result<Result<(Option<String>, Option<String>, Locale), ProcessorError>> {
    let default = engine.policy().default_locale;
    let contact = contact(engine, customer_id)
        .await
        .with_context(|| format!("reading the contact details of customer {customer_id}"))?;
    let info = match contact {
        Contact::Known(info) => info,
        Contact::Unavailable(e) if known.is_none() => return Ok(Err(e)),
        Contact::Unavailable(e) => {
            tracing::warn!(customer_id, error = %e, "could not read the customer's language: writing in the default");
            CustomerInfo::default()
        }
    };
    let locale = info
        .locale
        .as_deref()
        .and_then(Locale::parse)
        .unwrap_or(default);
    let email = known.map(str::to_owned).or(info.email);
    Ok(Ok((email, info.name, locale)))
}
