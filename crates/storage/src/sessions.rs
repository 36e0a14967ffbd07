//! Server-side sessions, second factors and the sign-in throttle. Any
//! instance of the binary can serve any request: all of it is in the
//! database.

use sqlx::Row;
use ticketwerk_domain::auth::ThrottleRule;
use ticketwerk_domain::{Id, Timestamp};

use crate::{Context, Result, StorageError, Store};

/// How far a session has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStage {
    /// Password checked; the second factor is still due.
    SecondFactor,
    /// Password checked; the person has no second factor yet and must enrol.
    Enrol,
    /// Both factors done.
    Full,
}

impl SessionStage {
    fn code(self) -> &'static str {
        match self {
            Self::SecondFactor => "second_factor",
            Self::Enrol => "enrol",
            Self::Full => "full",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "second_factor" => Ok(Self::SecondFactor),
            "enrol" => Ok(Self::Enrol),
            "full" => Ok(Self::Full),
            other => Err(StorageError::Corrupt(format!("session stage {other:?}"))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub token_hash: String,
    pub person: Id,
    pub stage: SessionStage,
    pub csrf_token: String,
    pub second_factor_failures: i64,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// Which TOTP set-up [`Store::confirm_totp`] finishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpSetup {
    /// The first second factor, at a sign-in's enrolment step.
    First,
    /// A signed-in person replacing their authenticator app.
    Replace,
}

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        person: Id,
        stage: SessionStage,
        csrf_token: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, person_id, stage, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(token_hash)
        .bind(person)
        .bind(stage.code())
        .bind(csrf_token)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("creating a session")?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT token_hash, person_id, stage, csrf_token, second_factor_failures, created_at, \
             last_seen_at FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .context("reading a session")?;
        let Some(r) = row else { return Ok(None) };
        let stage: String = r.try_get("stage").context("reading a session")?;
        Ok(Some(Session {
            token_hash: r.try_get("token_hash").context("reading a session")?,
            person: r.try_get("person_id").context("reading a session")?,
            stage: SessionStage::parse(&stage)?,
            csrf_token: r.try_get("csrf_token").context("reading a session")?,
            second_factor_failures: r
                .try_get("second_factor_failures")
                .context("reading a session")?,
            created_at: r.try_get("created_at").context("reading a session")?,
            last_seen_at: r.try_get("last_seen_at").context("reading a session")?,
        }))
    }

    /// Marks a session as used now. Written at most once a minute, so that
    /// reading pages does not turn into a write per request.
    pub async fn touch_session(&self, token_hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $3",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - 60)
        .execute(&self.pool)
        .await
        .context("touching a session")?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .context("ending a session")?;
        Ok(())
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`.
    pub async fn purge_sessions(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
    ) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(idle_before)
            .bind(created_before)
            .execute(&self.pool)
            .await
            .context("purging sessions")?;
        Ok(done.rows_affected())
    }

    /// Counts a wrong second factor on a pending session and returns the
    /// count so far.
    pub async fn count_second_factor_failure(&self, token_hash: &str) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE sessions SET second_factor_failures = second_factor_failures + 1 \
             WHERE token_hash = $1 RETURNING second_factor_failures",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .context("counting a second-factor failure")?;
        match row {
            Some(r) => r
                .try_get("second_factor_failures")
                .context("counting a second-factor failure"),
            None => Ok(i64::MAX),
        }
    }

    /// Keeps a freshly generated secret while the person sets it up, in
    /// the session (or pending sign-in) that shows it: no other sign-in,
    /// even with the same password, ever sees or confirms it.
    pub async fn set_pending_totp(&self, token_hash: &str, secret_base32: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET totp_pending_secret = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(secret_base32)
            .execute(&self.pool)
            .await
            .context("starting TOTP enrolment")?;
        Ok(())
    }

    /// The secret this session is setting up, if any.
    pub async fn pending_totp(&self, token_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT totp_pending_secret FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .context("reading a TOTP enrolment")?;
        match row {
            Some(r) => r
                .try_get("totp_pending_secret")
                .context("reading a TOTP enrolment"),
            None => Ok(None),
        }
    }

    /// Makes the secret this session is setting up the person's second
    /// factor and stores the hashes of new recovery codes, replacing any
    /// old ones, in one transaction.
    ///
    /// `First` (a sign-in's enrolment) only succeeds while the person has
    /// no second factor at all: a sign-in that waited at enrolment while
    /// the person set one up elsewhere must not replace it on the strength
    /// of the password. `Replace` is the signed-in person changing theirs.
    pub async fn confirm_totp(
        &self,
        person: Id,
        token_hash: &str,
        mode: TotpSetup,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.context("confirming TOTP")?;
        let only_first = match mode {
            TotpSetup::First => {
                " AND totp_secret IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM passkeys k WHERE k.person_id = persons.id)"
            }
            TotpSetup::Replace => "",
        };
        let done = sqlx::query(&format!(
            "UPDATE persons SET totp_last_step = $2, totp_secret = \
             (SELECT s.totp_pending_secret FROM sessions s \
              WHERE s.token_hash = $3 AND s.person_id = persons.id) \
             WHERE id = $1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.token_hash = $3 \
              AND s.person_id = persons.id AND s.totp_pending_secret IS NOT NULL){only_first}"
        ))
        .bind(person)
        .bind(step)
        .bind(token_hash)
        .execute(&mut *tx)
        .await
        .context("confirming TOTP")?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // Whatever this person had waiting anywhere is void now.
        sqlx::query("UPDATE sessions SET totp_pending_secret = NULL WHERE person_id = $1")
            .bind(person)
            .execute(&mut *tx)
            .await
            .context("confirming TOTP")?;
        sqlx::query("DELETE FROM recovery_codes WHERE person_id = $1")
            .bind(person)
            .execute(&mut *tx)
            .await
            .context("replacing recovery codes")?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (person_id, code_hash) VALUES ($1, $2)")
                .bind(person)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .context("storing recovery codes")?;
        }
        tx.commit().await.context("confirming TOTP")?;
        Ok(true)
    }

    /// Records the step of an accepted code, if no code of that step or a
    /// later one was accepted before. The check and the write are one
    /// statement, so two instances cannot both accept the same code.
    pub async fn claim_totp_step(&self, person: Id, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE persons SET totp_last_step = $2 WHERE id = $1 \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(person)
        .bind(step)
        .execute(&self.pool)
        .await
        .context("recording a TOTP step")?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses up a recovery code. True when it existed and was unused.
    pub async fn use_recovery_code(
        &self,
        person: Id,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE person_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(person)
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("using a recovery code")?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn unused_recovery_codes(&self, person: Id) -> Result<i64> {
        sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE person_id = $1 AND used_at IS NULL",
        )
        .bind(person)
        .fetch_one(&self.pool)
        .await
        .context("counting recovery codes")?
        .try_get("n")
        .context("counting recovery codes")
    }

    /// When the next sign-in attempt under this key may come, if not now.
    pub async fn throttled_until(
        &self,
        key: &str,
        rule: ThrottleRule,
        now: Timestamp,
    ) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT window_start, failures FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("reading the sign-in throttle")?;
        let Some(r) = row else { return Ok(None) };
        let start: i64 = r
            .try_get("window_start")
            .context("reading the sign-in throttle")?;
        let failures: i64 = r
            .try_get("failures")
            .context("reading the sign-in throttle")?;
        Ok(rule.blocked_until(start, failures, now))
    }

    /// Counts a failed attempt under this key; a window that has ended
    /// starts afresh. Returns the count in the window, this attempt
    /// included: the count and the write are one statement, so attempts
    /// made at the same moment each see their own number.
    pub async fn record_failure(
        &self,
        key: &str,
        rule: ThrottleRule,
        now: Timestamp,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO login_throttle (key, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                        ELSE login_throttle.failures + 1 END, \
             window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                        ELSE login_throttle.window_start END \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - rule.window)
        .fetch_one(&self.pool)
        .await
        .context("recording a failed sign-in")?
        .try_get("failures")
        .context("recording a failed sign-in")
    }

    pub async fn clear_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .context("clearing the sign-in throttle")?;
        Ok(())
    }
}
