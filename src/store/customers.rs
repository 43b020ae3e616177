//! What dunwell learned of customers and charges beyond the events: the
//! customers read from the processor when an event lacked their email or
//! name (`customers`), whose charge a charge was (`charges`), and disputes
//! (`disputes`).

use super::{Store, Tx, with_pool, with_tx};
pub use crate::domain::dispute::DisputeState;

/// A customer as the processor describes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerInfo {
    pub email: Option<String>,
    pub name: Option<String>,
    /// The first of the customer's preferred languages that is shipped.
    pub locale: Option<String>,
    /// The country of their address (two letters).
    pub country: Option<String>,
}

impl Store {
    /// The cached customer, if read before.
    pub async fn cached_customer(&self, customer_id: &str) -> anyhow::Result<Option<CustomerInfo>> {
        let row = with_pool!(self, pool => {
            sqlx::query_as::<_, (Option<String>, Option<String>, Option<String>, Option<String>)>(
                "SELECT email, name, locale, country FROM customers WHERE customer_id = $1",
            )
            .bind(customer_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(email, name, locale, country)| CustomerInfo {
            email,
            name,
            locale,
            country,
        }))
    }

    /// Caches what the processor said of a customer.
    pub async fn cache_customer(
        &self,
        customer_id: &str,
        info: &CustomerInfo,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO customers (customer_id, email, name, fetched_at, locale, country) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (customer_id) DO UPDATE SET email = excluded.email, \
                 name = excluded.name, fetched_at = excluded.fetched_at, locale = excluded.locale, \
                 country = excluded.country",
            )
            .bind(customer_id)
            .bind(&info.email)
            .bind(&info.name)
            .bind(now_ms)
            .bind(&info.locale)
            .bind(&info.country)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether the customer behind `charge_id` is known: from a case that
    /// names the charge, or from a read of the charge (`Some(None)`: the
    /// processor does not know it). `None`: not known yet.
    pub async fn charge_owner(&self, charge_id: &str) -> anyhow::Result<Option<Option<String>>> {
        // Disputes are rare: a short transaction is fine here.
        let mut tx = self.begin().await?;
        let owner = charge_owner(&mut tx, charge_id).await?;
        tx.commit().await?;
        Ok(owner)
    }

    /// Remembers whose charge `charge_id` is (`None`: nobody's we can learn).
    pub async fn remember_charge(
        &self,
        charge_id: &str,
        customer_id: Option<&str>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO charges (charge_id, customer_id, fetched_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (charge_id) DO UPDATE SET customer_id = excluded.customer_id, \
                 fetched_at = excluded.fetched_at",
            )
            .bind(charge_id)
            .bind(customer_id)
            .bind(now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

/// See `Store::charge_owner`.
pub async fn charge_owner(tx: &mut Tx, charge_id: &str) -> anyhow::Result<Option<Option<String>>> {
    let from_case = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>(
            "SELECT customer_id FROM cases WHERE charge_id = $1 LIMIT 1",
        )
        .bind(charge_id)
        .fetch_optional(conn)
        .await?
    });
    if let Some(customer) = from_case {
        return Ok(Some(Some(customer)));
    }
    let read = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT customer_id FROM charges WHERE charge_id = $1",
        )
        .bind(charge_id)
        .fetch_optional(conn)
        .await?
    });
    Ok(read)
}

/// Records where dispute `dispute_id` stands.
pub async fn record_dispute(
    tx: &mut Tx,
    dispute_id: &str,
    customer_id: Option<&str>,
    charge_id: Option<&str>,
    status: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO disputes (dispute_id, customer_id, charge_id, status, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (dispute_id) DO UPDATE SET status = excluded.status, \
             customer_id = COALESCE(excluded.customer_id, disputes.customer_id), \
             updated_at = excluded.updated_at \
             WHERE disputes.status = 'open'",
        )
        .bind(dispute_id)
        .bind(customer_id)
        .bind(charge_id)
        .bind(status)
        .bind(now_ms)
        .execute(conn)
        .await?;
    });
    Ok(())
}

/// Whether the customer has a dispute that is not closed.
pub async fn has_open_dispute(tx: &mut Tx, customer_id: &str) -> anyhow::Result<bool> {
    let n = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM disputes WHERE customer_id = $1 AND status = 'open'",
        )
        .bind(customer_id)
        .fetch_one(conn)
        .await?
    });
    Ok(n > 0)
}
