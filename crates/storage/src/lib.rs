//! Ticketwerk's storage, in domain terms, on SQLite or PostgreSQL.
//!
//! One query text serves both databases through sqlx's `Any` driver: ids
//! and times are BIGINT, flags are 0/1, placeholders are `$n` (which
//! SQLite accepts too). Only the quick search differs: each database
//! narrows it with its own trigram index (`Store::search_support`). Each
//! write transaction starts with a write, so SQLite takes its write lock at
//! once and concurrent writers queue on the busy timeout instead of failing
//! on a lock upgrade.

mod files;
mod identity;
mod import;
mod inbound;
mod leases;
mod masterdata;
mod outbox;
mod persons;
mod sessions;
mod tickets;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use ticketwerk_domain::DomainError;

pub use files::FileStore;
pub use identity::{AuditEntry, LinkedIdentity, OidcFlow, StoredPasskey};
pub use import::ImportReport;
pub use inbound::{InboundMail, MailOutcome, NewInboundMail, Recorded};
pub use masterdata::{Change, NamedPage};
pub use outbox::{MailState, OutboxMail, reason as mail_reason};
pub use persons::{Credentials, NewPerson};
pub use sessions::{Session, SessionStage, TotpSetup};
pub use tickets::{ColumnFilter, Page, SortKey, TicketQuery};

/// Failures of storage. Domain refusals pass through unchanged; anything
/// else is an infrastructure error with its cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error while {context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("file store error while {context}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Adds what storage was doing to a database error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| StorageError::Database { context, source })
    }
}

/// Reads a column that holds a domain code (status, kind, …).
/// Now, in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn code<T: FromStr>(row: &AnyRow, column: &str) -> Result<T> {
    let raw: String = row.try_get(column).context("reading a row")?;
    raw.parse()
        .map_err(|_| StorageError::Corrupt(format!("{column} = {raw:?}")))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database of one Ticketwerk installation.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Capitals beyond ASCII that the database's `LOWER` folds to the same
    /// small letter as Rust does; the quick search folds the others itself.
    /// None on SQLite, whose `LOWER` folds ASCII only.
    lower_folds: Option<Arc<HashSet<char>>>,
}

impl Store {
    /// Connects to `sqlite://…` or `postgres://…` and applies the embedded
    /// migrations of that database.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StorageError::Corrupt(format!(
                "unsupported database URL scheme: {url}"
            )));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => options
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .context("opening the SQLite database")?,
            Backend::Postgres => options
                .max_connections(16)
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?,
        };
        let mut store = Self {
            pool,
            backend,
            lower_folds: None,
        };
        store.migrate().await?;
        if backend == Backend::Postgres {
            store.lower_folds = Some(Arc::new(tickets::capitals_lower_folds(&store.pool).await));
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StorageError::Database {
                context: "applying migrations",
                source: e.into(),
            })
    }

    /// A transaction that holds the write lock from its first statement,
    /// for changes that read before they write: on SQLite a read would
    /// otherwise pin a snapshot that a concurrent writer can invalidate
    /// (the upgrade then fails at once instead of waiting its turn).
    pub(crate) async fn begin_write(
        &self,
        context: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await.context(context)?;
        sqlx::query("UPDATE ticket_counters SET year = year WHERE 1 = 0")
            .execute(&mut *tx)
            .await
            .context(context)?;
        Ok(tx)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Records a security or administrative event.
    pub async fn audit(
        &self,
        at: i64,
        person: Option<i64>,
        event: &str,
        detail: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, person_id, event, detail) VALUES ($1, $2, $3, $4)")
            .bind(at)
            .bind(person)
            .bind(event)
            .bind(detail)
            .execute(&self.pool)
            .await
            .context("writing the audit log")?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
