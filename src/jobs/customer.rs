//! The customer's email and name when the events lacked them (a
//! `customer.source.expiring` for a customer seen in no invoice, an invoice
//! without `customer_email`): read once from the processor
//! (`GET /v1/customers/{id}`) and cached in the database.

use crate::domain::ids::CustomerId;
use crate::engine::Engine;
use crate::processor::ProcessorError;
use crate::store::customers::CustomerInfo;

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
            name: None,
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
    if let Some(info) = store.cached_customer(customer_id).await? {
        return Ok(Contact::Known(info));
    }
    let id = CustomerId::parse(customer_id)?;
    let info = match engine.processor.get_customer(&id).await {
        Ok(Some(customer)) => CustomerInfo {
            email: customer.email,
            name: customer.name,
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
        .await?;
    Ok(Contact::Known(info))
}
