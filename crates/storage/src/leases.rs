//! Leases: one holder at a time for a named job, among all instances that
//! share the database.

use sqlx::Row;
use ticketwerk_domain::Timestamp;

use crate::{Context, Result, Store};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `now + ttl_secs`.
    /// True when `holder` has it now: it was free, had expired, or was
    /// `holder`'s already. The check and the write are one statement, so of
    /// two instances racing for a free lease exactly one gets it, on SQLite
    /// (one writer at a time) as on PostgreSQL (the conflicting insert waits
    /// for the other's commit and then sees its row).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl_secs: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET \
             holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_secs))
        .bind(now)
        .execute(&self.pool)
        .await
        .context("taking a lease")?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up at once if `holder` has it, so another instance
    /// need not wait for it to expire. Someone else's lease stays.
    pub async fn release(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing a lease")?;
        Ok(())
    }

    /// Who holds the lease `name` and until when, expired or not.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, Timestamp)>> {
        let row = sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .context("reading a lease")?;
        let Some(r) = row else { return Ok(None) };
        let holder: String = r.try_get("holder").context("reading a lease")?;
        let until: i64 = r.try_get("expires_at").context("reading a lease")?;
        Ok(Some((holder, until)))
    }
}
