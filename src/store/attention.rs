//! What needs the operator: cases whose work was given up, outgoing events
//! given up after their last try, and processor events parked because they
//! could not be handled — counted for the overview, listed for the
//! dashboard's *Needs attention* page.

use sqlx::Row;

use super::{Store, with_pool};

/// How many of each wait for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttentionCounts {
    /// Cases flagged `needs_attention`.
    pub cases: i64,
    /// Outgoing events given up (not replayed yet).
    pub events_given_up: i64,
    /// Processor events that could not be read or handled.
    pub events_parked: i64,
}

impl AttentionCounts {
    pub fn total(&self) -> i64 {
        self.cases + self.events_given_up + self.events_parked
    }
}

/// A processor event that was parked: stored, never applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub event_id: String,
    pub event_type: String,
    /// `unparseable` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    /// Unix ms (real clock).
    pub processed_at: i64,
}

impl Store {
    pub async fn attention_counts(&self) -> anyhow::Result<AttentionCounts> {
        let counts = with_pool!(self, pool => {
            let r = sqlx::query(
                "SELECT \
                   (SELECT COUNT(*) FROM cases WHERE needs_attention IS NOT NULL) AS cases, \
                   (SELECT COUNT(*) FROM outgoing_events WHERE status = 'failed') AS given_up, \
                   (SELECT COUNT(*) FROM event_outcomes \
                     WHERE outcome IN ('unparseable', 'failed')) AS parked",
            )
            .fetch_one(pool)
            .await?;
            AttentionCounts {
                cases: r.try_get("cases")?,
                events_given_up: r.try_get("given_up")?,
                events_parked: r.try_get("parked")?,
            }
        });
        Ok(counts)
    }

    /// The latest `limit` parked processor events, newest first.
    pub async fn parked_events(&self, limit: i64) -> anyhow::Result<Vec<ParkedEvent>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT e.event_id, e.event_type, o.outcome, o.error, o.processed_at \
                 FROM event_outcomes o JOIN webhook_events e ON e.seq = o.seq \
                 WHERE o.outcome IN ('unparseable', 'failed') \
                 ORDER BY o.seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
            {
                out.push(ParkedEvent {
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    processed_at: r.try_get("processed_at")?,
                });
            }
            out
        });
        Ok(rows)
    }
}
