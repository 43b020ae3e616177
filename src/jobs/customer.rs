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
