//! Tickets, their timeline and their attachments.

use std::collections::HashSet;
use std::sync::OnceLock;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};
use ticketwerk_domain::access::{Scope, StatusFilter};
use ticketwerk_domain::model::{
    Attachment, Entry, NewAttachment, NewTicket, Ticket, TicketSummary,
};
use ticketwerk_domain::notify::Event;
use ticketwerk_domain::ticket::{check_status_change, check_transition, status_after_entry};
use ticketwerk_domain::{
    DomainError, EntryKind, Id, Priority, TicketKind, TicketNumber, TicketStatus, Timestamp,
};

use crate::{Backend, Context, Result, StorageError, Store, code, outbox};

/// Columns a ticket list can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Updated,
    Created,
    Number,
    Priority,
    Status,
    ShortText,
}

impl SortKey {
    pub const ALL: &'static [SortKey] = &[
        SortKey::Updated,
        SortKey::Created,
        SortKey::Number,
        SortKey::Priority,
        SortKey::Status,
        SortKey::ShortText,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Created => "created",
            Self::Number => "number",
            Self::Priority => "priority",
            Self::Status => "status",
            Self::ShortText => "short_text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == s)
    }

    fn column(self) -> &'static str {
        match self {
            Self::Updated => "t.updated_at",
            Self::Created => "t.created_at",
            Self::Number => "t.number",
            Self::Priority => "t.priority",
            Self::Status => "t.status",
            Self::ShortText => "t.short_text",
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Self::Number | Self::Status | Self::ShortText)
    }
}

/// A request for one page of a ticket list. The scope comes from the
/// domain's access rules, never from the request.
#[derive(Clone, Debug)]
pub struct TicketQuery {
    pub scope: Scope,
    pub status: StatusFilter,
    pub sort: SortKey,
    pub descending: bool,
    /// Quick search over number, short text and reference.
    pub search: Option<String>,
    /// Column search: each filled column must match as well.
    pub columns: ColumnFilter,
    /// Keyset cursor: the page starts after this one.
    pub after: Option<String>,
    pub limit: i64,
}

/// The column search of a list: text columns match by case-insensitive
/// substring, status and kind exactly; empty columns do not filter.
#[derive(Clone, Debug, Default)]
pub struct ColumnFilter {
    pub number: Option<String>,
    pub short_text: Option<String>,
    pub reference: Option<String>,
    pub reported_for: Option<String>,
    pub status: Option<TicketStatus>,
    pub kind: Option<TicketKind>,
}

impl ColumnFilter {
    pub fn is_empty(&self) -> bool {
        self.text_columns().next().is_none() && self.status.is_none() && self.kind.is_none()
    }

    /// The filled text columns with the SQL column each searches.
    fn text_columns(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("t.number", &self.number),
            ("t.short_text", &self.short_text),
            ("t.reference", &self.reference),
            ("pf.name", &self.reported_for),
        ]
        .into_iter()
        .filter_map(|(column, value)| {
            let v = value.as_deref()?.trim();
            (!v.is_empty()).then_some((column, v))
        })
    }
}

/// One page of a list, with the cursor of the next page if there is one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A query whose `$n` placeholders are numbered as they are added.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

impl Sql {
    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    pub(crate) fn ids(&mut self, ids: &[Id]) -> &mut Self {
        self.push("(");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(Arg::Int(*id));
        }
        self.push(")")
    }

    pub(crate) fn query(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for arg in &self.args {
            q = match arg {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

pub(crate) const TICKET_SELECT: &str = "SELECT t.id, t.number, t.business_partner_id, b.name AS bp_name, \
    b.customer_number, t.kind, t.status, t.reported_by, pb.name AS reported_by_name, \
    t.reported_for, pf.name AS reported_for_name, t.reference, t.short_text, t.description, \
    t.impact, t.urgency, t.ticket_type, t.priority, t.service_id, s.name AS service_name, \
    t.system_id, y.name AS system_name, t.created_at, t.updated_at \
    FROM tickets t \
    JOIN business_partners b ON b.id = t.business_partner_id \
    JOIN persons pb ON pb.id = t.reported_by \
    JOIN persons pf ON pf.id = t.reported_for \
    LEFT JOIN services s ON s.id = t.service_id \
    LEFT JOIN systems y ON y.id = t.system_id";

pub(crate) fn ticket(r: &AnyRow) -> Result<Ticket> {
    let c = "reading a ticket";
    Ok(Ticket {
        id: r.try_get("id").context(c)?,
        number: number_of(r)?,
        business_partner_id: r.try_get("business_partner_id").context(c)?,
        business_partner_name: r.try_get("bp_name").context(c)?,
        customer_number: r.try_get("customer_number").context(c)?,
        kind: code(r, "kind")?,
        status: code(r, "status")?,
        reported_by: r.try_get("reported_by").context(c)?,
        reported_by_name: r.try_get("reported_by_name").context(c)?,
        reported_for: r.try_get("reported_for").context(c)?,
        reported_for_name: r.try_get("reported_for_name").context(c)?,
        reference: r.try_get("reference").context(c)?,
        short_text: r.try_get("short_text").context(c)?,
        description: r.try_get("description").context(c)?,
        impact: code(r, "impact")?,
        urgency: code(r, "urgency")?,
        ticket_type: code(r, "ticket_type")?,
        priority: priority_of(r)?,
        service_id: r.try_get("service_id").context(c)?,
        service_name: r.try_get("service_name").context(c)?,
        system_id: r.try_get("system_id").context(c)?,
        system_name: r.try_get("system_name").context(c)?,
        created_at: r.try_get("created_at").context(c)?,
        updated_at: r.try_get("updated_at").context(c)?,
    })
}

fn number_of(r: &AnyRow) -> Result<TicketNumber> {
    let number: String = r.try_get("number").context("reading a ticket number")?;
    number.parse().map_err(|_| StorageError::Corrupt(number))
}

fn priority_of(r: &AnyRow) -> Result<Priority> {
    let level: i64 = r.try_get("priority").context("reading a priority")?;
    Priority::from_level(level).ok_or_else(|| StorageError::Corrupt(format!("priority {level}")))
}

fn summary(r: &AnyRow) -> Result<TicketSummary> {
    let c = "reading a ticket list";
    Ok(TicketSummary {
        id: r.try_get("id").context(c)?,
        number: number_of(r)?,
        kind: code(r, "kind")?,
        status: code(r, "status")?,
        priority: priority_of(r)?,
        short_text: r.try_get("short_text").context(c)?,
        reference: r.try_get("reference").context(c)?,
        business_partner_name: r.try_get("bp_name").context(c)?,
        reported_for_name: r.try_get("reported_for_name").context(c)?,
        created_at: r.try_get("created_at").context(c)?,
        updated_at: r.try_get("updated_at").context(c)?,
    })
}

fn attachment(r: &AnyRow) -> Result<Attachment> {
    let c = "reading an attachment";
    Ok(Attachment {
        id: r.try_get("id").context(c)?,
        ticket_id: r.try_get("ticket_id").context(c)?,
        entry_id: r.try_get("entry_id").context(c)?,
        file_name: r.try_get("file_name").context(c)?,
        content_type: r.try_get("content_type").context(c)?,
        size: r.try_get("size").context(c)?,
        storage_key: r.try_get("storage_key").context(c)?,
        created_at: r.try_get("created_at").context(c)?,
    })
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for ch in s.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// SQLite's `LOWER` folds ASCII only. For each other letter of a
/// lower-cased search, its capital is replaced before `LOWER`, so that
/// "überhitzung" finds "Überhitzung" on SQLite as it does on PostgreSQL.
pub(crate) fn case_folds(lowered: &str) -> Vec<(String, String)> {
    let mut folds: Vec<(String, String)> = Vec::new();
    for c in lowered.chars().filter(|c| !c.is_ascii()) {
        let mut upper = c.to_uppercase();
        if let (Some(u), None) = (upper.next(), upper.next()) {
            let round_trips = u.to_lowercase().eq([c]);
            let fold = (u.to_string(), c.to_string());
            if u != c && !u.is_ascii() && round_trips && !folds.contains(&fold) {
                folds.push(fold);
            }
        }
    }
    folds
}

/// At most this many trigram candidates are fetched and sorted on SQLite;
/// a term with more is common, and the list walked in its own order finds a
/// page of matches sooner (see `Store::search_support`).
const SQLITE_MAX_CANDIDATES: i64 = 5_000;

/// The FTS5 query that finds a superset of the tickets a lower-cased search
/// finds: each run of at least three characters the index folds alike
/// becomes a phrase (a substring, as the trigram tokenizer matches them).
/// None when no run is that long: a trigram index cannot narrow a search
/// of one or two characters, and such a search scans.
fn trigram_query(lowered: &str) -> Option<String> {
    let phrases: Vec<String> = lowered
        .split(|c| !fts_folds_alike(c))
        .filter(|run| run.chars().count() >= 3)
        .map(|run| format!("\"{}\"", run.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

/// Whether FTS5's trigram tokenizer, which folds case by Unicode 6.1,
/// surely folds to `c` whatever the search folds to it: true for characters
/// without a capital, and for small letters whose capital is Latin (up to
/// Latin Extended-B), Greek or Cyrillic, all paired long before 6.1. Other
/// capitals (Georgian Mtavruli, Cherokee, Latin Extended-D, …) may be
/// newer: their small letters break a phrase instead, so no match is lost.
fn fts_folds_alike(c: char) -> bool {
    c != '\0'
        && case_folds(c.encode_utf8(&mut [0; 4]))
            .iter()
            .flat_map(|(capital, _)| capital.chars())
            .all(|u| matches!(u, '\u{c0}'..='\u{24f}' | '\u{386}'..='\u{3ab}' | '\u{400}'..='\u{4ff}'))
}

/// Every pair `case_folds` may produce: each capital beyond ASCII that Rust
/// folds to one small letter and back. Cased letters live in the first two
/// planes; the rest are ideographs and private use.
fn all_case_folds() -> &'static [(String, String)] {
    static FOLDS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FOLDS.get_or_init(|| {
        let smalls: String = ('\u{80}'..='\u{1ffff}')
            .filter(|c| c.to_lowercase().eq([*c]) && !c.to_uppercase().eq([*c]))
            .collect();
        case_folds(&smalls)
    })
}

/// The capitals that PostgreSQL's `LOWER` folds as it folds their small
/// letter, asked once when the store opens: in a UTF-8 locale all that its
/// C library knows, in the C locale none. Refused or unanswerable: none.
/// Each letter stands alone between spaces (no final sigma).
pub(crate) async fn capitals_lower_folds(pool: &AnyPool) -> HashSet<char> {
    let folds = all_case_folds();
    let join =
        |side: fn(&(String, String)) -> &str| folds.iter().map(side).collect::<Vec<_>>().join(" ");
    let answer = sqlx::query("SELECT LOWER($1) AS capitals, LOWER($2) AS smalls")
        .bind(join(|f| &f.0))
        .bind(join(|f| &f.1))
        .fetch_one(pool)
        .await;
    let (capitals, smalls): (String, String) = match answer
        .and_then(|r| Ok((r.try_get("capitals")?, r.try_get("smalls")?)))
    {
        Ok(lowered) => lowered,
        Err(e) => {
            tracing::warn!(error = %e, "quick search: cannot ask how LOWER folds; folding in SQL");
            return HashSet::new();
        }
    };
    let (capitals, smalls): (Vec<_>, Vec<_>) =
        (capitals.split(' ').collect(), smalls.split(' ').collect());
    if capitals.len() != folds.len() || smalls.len() != folds.len() {
        return HashSet::new();
    }
    folds
        .iter()
        .zip(capitals.iter().zip(&smalls))
        .filter(|(_, (capital, small))| capital == small)
        .filter_map(|((capital, _), _)| capital.chars().next())
        .collect()
}

/// `LOWER(column) LIKE pattern`, with the case folds `LOWER` misses
/// written out as `REPLACE` around the column.
pub(crate) fn push_like(sql: &mut Sql, column: &str, pattern: &str, folds: &[(String, String)]) {
    sql.push("LOWER(");
    for _ in folds {
        sql.push("REPLACE(");
    }
    sql.push(column);
    for (upper, lower) in folds {
        sql.push(", ")
            .bind(Arg::Text(upper.clone()))
            .push(", ")
            .bind(Arg::Text(lower.clone()))
            .push(")");
    }
    sql.push(") LIKE ")
        .bind(Arg::Text(pattern.to_string()))
        .push(" ESCAPE '\\'");
}

/// A keyset cursor is the sort value and the id of the last row shown.
pub(crate) fn encode_cursor(value: &str, id: Id) -> String {
    format!("{id}.{value}")
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(Id, String)> {
    let (id, value) = cursor.split_once('.')?;
    Some((id.parse().ok()?, value.to_string()))
}

impl Store {
    /// Creates a ticket as a new call, with its attachments, in one
    /// transaction. The number comes from a per-year counter that the same
    /// transaction increments, so concurrent creations never share one.
    pub async fn create_ticket(
        &self,
        new: &NewTicket,
        attachments: &[NewAttachment],
        year: i32,
        now: Timestamp,
    ) -> Result<(Id, TicketNumber)> {
        let mut tx = self.pool.begin().await.context("creating a ticket")?;
        let created = insert_ticket(&mut tx, new, attachments, year, now).await?;
        tx.commit().await.context("creating a ticket")?;
        Ok(created)
    }

    pub async fn ticket(&self, id: Id) -> Result<Option<Ticket>> {
        sqlx::query(&format!("{TICKET_SELECT} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a ticket")?
            .as_ref()
            .map(ticket)
            .transpose()
    }

    /// The text of one entry of a ticket.
    pub async fn entry_body(&self, ticket: Id, entry: Id) -> Result<Option<String>> {
        sqlx::query("SELECT body FROM entries WHERE id = $1 AND ticket_id = $2")
            .bind(entry)
            .bind(ticket)
            .fetch_optional(&self.pool)
            .await
            .context("reading an entry")?
            .map(|r| r.try_get("body").context("reading an entry"))
            .transpose()
    }

    pub async fn ticket_by_number(&self, number: &TicketNumber) -> Result<Option<Ticket>> {
        sqlx::query(&format!("{TICKET_SELECT} WHERE t.number = $1"))
            .bind(number.as_str())
            .fetch_optional(&self.pool)
            .await
            .context("reading a ticket")?
            .as_ref()
            .map(ticket)
            .transpose()
    }

    /// One page of a ticket list.
    pub async fn list_tickets(&self, q: &TicketQuery) -> Result<Page<TicketSummary>> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT t.id, t.number, t.kind, t.status, t.priority, t.short_text, t.reference, \
             b.name AS bp_name, pf.name AS reported_for_name, t.created_at, t.updated_at \
             FROM tickets t JOIN business_partners b ON b.id = t.business_partner_id \
             JOIN persons pf ON pf.id = t.reported_for WHERE ",
        );
        match &q.scope {
            Scope::All => sql.push("1 = 1"),
            Scope::Involving { partners, .. } | Scope::Partners(partners)
                if partners.is_empty() =>
            {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            Scope::Involving { person, partners } => sql
                .push("(t.reported_by = ")
                .bind(Arg::Int(*person))
                .push(" OR t.reported_for = ")
                .bind(Arg::Int(*person))
                .push(") AND t.business_partner_id IN ")
                .ids(partners),
            Scope::Partners(partners) => sql.push("t.business_partner_id IN ").ids(partners),
        };
        match q.status {
            StatusFilter::Open => sql.push(" AND t.is_open = 1"),
            StatusFilter::Closed => sql.push(" AND t.is_open = 0"),
            StatusFilter::NewCalls => sql.push(" AND t.status = 'new' AND t.kind = 'call'"),
        };
        let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let wide = matches!(q.scope, Scope::All);
        if let Some(number) = search.and_then(|s| s.parse::<TicketNumber>().ok()) {
            // A whole ticket number, as read out on the phone: one index
            // lookup instead of a scan of every ticket in scope.
            sql.push(" AND t.number = ")
                .bind(Arg::Text(number.to_string()));
        } else if let Some(search) = search {
            let pattern = like_pattern(search);
            let folds = self
                .search_support(&mut sql, &search.to_lowercase(), wide)
                .await?;
            let columns = ["t.number", "t.short_text", "t.reference"];
            for (i, column) in columns.into_iter().enumerate() {
                sql.push(if i == 0 { " AND (" } else { " OR " });
                push_like(&mut sql, column, &pattern, &folds);
            }
            sql.push(")");
        }
        for (column, value) in q.columns.text_columns() {
            sql.push(" AND ");
            push_like(
                &mut sql,
                column,
                &like_pattern(value),
                &case_folds(&value.to_lowercase()),
            );
        }
        if let Some(status) = q.columns.status {
            sql.push(" AND t.status = ")
                .bind(Arg::Text(status.code().to_string()));
        }
        if let Some(kind) = q.columns.kind {
            sql.push(" AND t.kind = ")
                .bind(Arg::Text(kind.code().to_string()));
        }
        let column = q.sort.column();
        let (cmp, dir) = if q.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        // A cursor that does not fit the sort (edited by hand, or from
        // another sort) is ignored: the list starts at its first page.
        let cursor = q
            .after
            .as_deref()
            .and_then(decode_cursor)
            .and_then(|(id, value)| {
                if q.sort.is_text() {
                    Some((id, Arg::Text(value)))
                } else {
                    value.parse().ok().map(|v| (id, Arg::Int(v)))
                }
            });
        if let Some((id, value)) = cursor {
            sql.push(&format!(" AND ({column} {cmp} "))
                .bind(value)
                .push(&format!(" OR ({column} = "));
            // The value is bound twice: `$n` may be repeated on PostgreSQL
            // but the Any driver binds positionally on SQLite.
            let again = match sql.args.last() {
                Some(Arg::Text(s)) => Arg::Text(s.clone()),
                Some(Arg::Int(i)) => Arg::Int(*i),
                None => Arg::Int(0),
            };
            sql.bind(again)
                .push(&format!(" AND t.id {cmp} "))
                .bind(Arg::Int(id))
                .push("))");
        }
        sql.push(&format!(" ORDER BY {column} {dir}, t.id {dir} LIMIT "))
            .bind(Arg::Int(q.limit + 1));
        // A search is prepared afresh, so PostgreSQL plans it for its term
        // (rare: the trigram index; common: the list's order), not once for
        // any term.
        let rows = sql
            .query()
            .persistent(search.is_none())
            .fetch_all(&self.pool)
            .await
            .context("listing tickets")?;
        let mut items = rows.iter().map(summary).collect::<Result<Vec<_>>>()?;
        let next = if items.len() as i64 > q.limit {
            items.truncate(q.limit as usize);
            items.last().map(|last| {
                let value = match q.sort {
                    SortKey::Updated => last.updated_at.to_string(),
                    SortKey::Created => last.created_at.to_string(),
                    SortKey::Number => last.number.to_string(),
                    SortKey::Priority => last.priority.level().to_string(),
                    SortKey::Status => last.status.code().to_string(),
                    SortKey::ShortText => last.short_text.clone(),
                };
                encode_cursor(&value, last.id)
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// All that differs per database in a quick search for `lowered`. The
    /// exact test is the same on both: `LOWER(column) LIKE pattern` over
    /// number, short text and reference, with the returned case folds
    /// written out as `REPLACE` where `LOWER` misses them. What narrows the
    /// candidates before it differs. `wide`: a search over all tickets.
    async fn search_support(
        &self,
        sql: &mut Sql,
        lowered: &str,
        wide: bool,
    ) -> Result<Vec<(String, String)>> {
        let mut folds = case_folds(lowered);
        match self.backend {
            // The pg_trgm indexes serve `LOWER(column) LIKE …` as written,
            // and the planner, knowing how common the term is, picks them or
            // the list's order. A `REPLACE` would hide the column from them,
            // so folds that `LOWER` makes anyway are left out.
            Backend::Postgres => {
                if let Some(done) = &self.lower_folds {
                    folds.retain(|(capital, _)| !capital.chars().all(|c| done.contains(&c)));
                }
            }
            // FTS5 narrows the candidates, the exact test follows. SQLite
            // cannot tell how many there are, so it is asked first: up to
            // `SQLITE_MAX_CANDIDATES` they are fetched and sorted; a term
            // with more is common, and the list is walked in its order. A
            // person's or business partner's tickets are few; their own
            // index narrows the scan, as it did before.
            Backend::Sqlite if wide => {
                let Some(query) = trigram_query(lowered) else {
                    return Ok(folds);
                };
                let candidates: i64 = sqlx::query(
                    "SELECT count(*) AS n FROM (SELECT 1 FROM tickets_search \
                     WHERE tickets_search MATCH $1 LIMIT $2)",
                )
                .bind(query.as_str())
                .bind(SQLITE_MAX_CANDIDATES)
                .fetch_one(&self.pool)
                .await
                .context("counting search candidates")?
                .try_get("n")
                .context("counting search candidates")?;
                if candidates < SQLITE_MAX_CANDIDATES {
                    sql.push(
                        " AND t.id IN (SELECT rowid FROM tickets_search \
                         WHERE tickets_search MATCH ",
                    )
                    .bind(Arg::Text(query))
                    .push(")");
                }
            }
            Backend::Sqlite => {}
        }
        Ok(folds)
    }

    /// The timeline of a ticket, oldest first, limited to the kinds the
    /// viewer may see (the caller gets them from the access rules).
    pub async fn entries(&self, ticket: Id, kinds: &[EntryKind]) -> Result<Vec<Entry>> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT e.id, e.kind, e.author_id, p.name AS author_name, e.body, e.created_at \
             FROM entries e LEFT JOIN persons p ON p.id = e.author_id WHERE e.ticket_id = ",
        )
        .bind(Arg::Int(ticket))
        .push(" AND e.kind IN (");
        for (i, k) in kinds.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Arg::Text(k.code().to_string()));
        }
        sql.push(") ORDER BY e.id");
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .context("reading a timeline")?;
        rows.iter()
            .map(|r| {
                let c = "reading a timeline";
                Ok(Entry {
                    id: r.try_get("id").context(c)?,
                    kind: code(r, "kind")?,
                    author_id: r.try_get("author_id").context(c)?,
                    author_name: r.try_get("author_name").context(c)?,
                    body: r.try_get("body").context(c)?,
                    created_at: r.try_get("created_at").context(c)?,
                })
            })
            .collect()
    }

    /// Attachments of a ticket, limited to those on the ticket itself or on
    /// entries of the given kinds.
    pub async fn attachments(&self, ticket: Id, kinds: &[EntryKind]) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT a.id, a.ticket_id, a.entry_id, a.file_name, a.content_type, a.size, \
             a.storage_key, a.created_at, e.kind AS entry_kind FROM attachments a \
             LEFT JOIN entries e ON e.id = a.entry_id WHERE a.ticket_id = $1 ORDER BY a.id",
        )
        .bind(ticket)
        .fetch_all(&self.pool)
        .await
        .context("listing attachments")?;
        let mut out = Vec::new();
        for r in &rows {
            let kind: Option<String> = r.try_get("entry_kind").context("listing attachments")?;
            let visible = match kind {
                None => true,
                Some(k) => k.parse::<EntryKind>().is_ok_and(|k| kinds.contains(&k)),
            };
            if visible {
                out.push(attachment(r)?);
            }
        }
        Ok(out)
    }

    /// Adds an entry with its attachments, moving the status as the domain
    /// says, in one transaction. Refused on a closed ticket.
    pub async fn add_entry(
        &self,
        ticket: &Ticket,
        kind: EntryKind,
        author: Id,
        body: &str,
        attachments: &[NewAttachment],
        now: Timestamp,
    ) -> Result<Id> {
        let next = status_after_entry(kind, ticket.status);
        if let Some(next) = next {
            check_transition(ticket.kind, ticket.status, next)?;
        }
        let status = next.unwrap_or(ticket.status);
        // An internal note leaves no trace a customer could see, not even
        // the time of the last change.
        let updated_at = if kind.customer_visible() {
            now
        } else {
            ticket.updated_at
        };
        let mut tx = self.pool.begin().await.context("adding an entry")?;
        let done = sqlx::query(
            "UPDATE tickets SET updated_at = $2, status = $3, is_open = $4 \
             WHERE id = $1 AND status = $5 AND status <> 'closed'",
        )
        .bind(ticket.id)
        .bind(updated_at)
        .bind(status.code())
        .bind(i64::from(status.is_open()))
        .bind(ticket.status.code())
        .execute(&mut *tx)
        .await
        .context("adding an entry")?;
        if done.rows_affected() != 1 {
            return Err(
                DomainError::Conflict(if ticket.status == TicketStatus::Closed {
                    "ticket_closed"
                } else {
                    "ticket_changed"
                })
                .into(),
            );
        }
        let id = insert_entry(&mut tx, ticket.id, kind, Some(author), body, now).await?;
        if let Some(next) = next {
            record_status_change(&mut tx, ticket, next, author, now).await?;
        }
        insert_attachments(&mut tx, ticket.id, Some(id), author, attachments, now).await?;
        outbox::enqueue(
            &mut tx,
            ticket.id,
            ticket.reported_by,
            ticket.reported_for,
            Event::Entry(kind),
            Some(id),
            now,
        )
        .await?;
        tx.commit().await.context("adding an entry")?;
        Ok(id)
    }

    /// Changes the status at the desk (close, reopen, …), with an entry.
    pub async fn set_status(
        &self,
        ticket: &Ticket,
        to: TicketStatus,
        author: Id,
        now: Timestamp,
    ) -> Result<()> {
        if to == ticket.status {
            return Ok(());
        }
        check_status_change(ticket.kind, ticket.status, to)?;
        let mut tx = self.pool.begin().await.context("changing a status")?;
        let done = sqlx::query(
            "UPDATE tickets SET status = $2, is_open = $3, updated_at = $4 WHERE id = $1 AND status = $5",
        )
        .bind(ticket.id)
        .bind(to.code())
        .bind(i64::from(to.is_open()))
        .bind(now)
        .bind(ticket.status.code())
        .execute(&mut *tx)
        .await
        .context("changing a status")?;
        if done.rows_affected() != 1 {
            return Err(DomainError::Conflict("ticket_changed").into());
        }
        record_status_change(&mut tx, ticket, to, author, now).await?;
        outbox::enqueue(
            &mut tx,
            ticket.id,
            ticket.reported_by,
            ticket.reported_for,
            Event::StatusSet(to),
            None,
            now,
        )
        .await?;
        tx.commit().await.context("changing a status")?;
        Ok(())
    }

    /// Turns a call into an incident or a service request; a new call goes
    /// to work at once.
    pub async fn classify(
        &self,
        ticket: &Ticket,
        kind: TicketKind,
        author: Id,
        now: Timestamp,
    ) -> Result<()> {
        if kind == TicketKind::Call || ticket.kind != TicketKind::Call {
            return Err(DomainError::Conflict("already_classified").into());
        }
        let status = match ticket.status {
            TicketStatus::New => TicketStatus::InProgress,
            other => other,
        };
        let mut tx = self.pool.begin().await.context("classifying a call")?;
        let done = sqlx::query(
            "UPDATE tickets SET kind = $2, status = $3, updated_at = $4 WHERE id = $1 AND kind = 'call'",
        )
        .bind(ticket.id)
        .bind(kind.code())
        .bind(status.code())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("classifying a call")?;
        if done.rows_affected() != 1 {
            return Err(DomainError::Conflict("already_classified").into());
        }
        insert_entry(
            &mut tx,
            ticket.id,
            EntryKind::Classification,
            Some(author),
            kind.code(),
            now,
        )
        .await?;
        if status != ticket.status {
            record_status_change(&mut tx, ticket, status, author, now).await?;
        }
        tx.commit().await.context("classifying a call")?;
        Ok(())
    }

    /// Edits the initial report. The check that the ticket is still a call
    /// and the write are one statement, so a classification at the same
    /// moment wins cleanly.
    pub async fn edit_report(
        &self,
        ticket: &Ticket,
        short_text: &str,
        description: &str,
        author: Id,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.context("editing a report")?;
        let done = sqlx::query(
            "UPDATE tickets SET short_text = $2, description = $3, updated_at = $4 \
             WHERE id = $1 AND kind = 'call' AND status <> 'closed'",
        )
        .bind(ticket.id)
        .bind(short_text.trim())
        .bind(description.trim())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("editing a report")?;
        if done.rows_affected() != 1 {
            return Err(DomainError::Conflict("report_locked").into());
        }
        // The entry keeps the text as it was, so an edit never erases what
        // was first reported.
        let previous = format!("{}\n\n{}", ticket.short_text, ticket.description);
        insert_entry(
            &mut tx,
            ticket.id,
            EntryKind::ReportEdited,
            Some(author),
            &previous,
            now,
        )
        .await?;
        tx.commit().await.context("editing a report")?;
        Ok(())
    }

    /// Assigns a system of the ticket's business partner to the ticket, or
    /// none. A system of another business partner, or one retired, is
    /// refused, as at the ticket's creation.
    pub async fn assign_system(
        &self,
        ticket: &Ticket,
        system: Option<Id>,
        author: Id,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.context("assigning a system")?;
        let done = sqlx::query(
            "UPDATE tickets SET system_id = $2, updated_at = $3 WHERE id = $1 AND ($2 IS NULL \
             OR EXISTS (SELECT 1 FROM systems WHERE id = $2 AND business_partner_id = $4 \
             AND active = 1))",
        )
        .bind(ticket.id)
        .bind(system)
        .bind(now)
        .bind(ticket.business_partner_id)
        .execute(&mut *tx)
        .await
        .context("assigning a system")?;
        if done.rows_affected() != 1 {
            return Err(DomainError::invalid("system_id", "unknown_choice").into());
        }
        // The timeline says who changed the system to which, so the change
        // is traced like any other.
        let label = match system {
            Some(id) => {
                let row = sqlx::query("SELECT name, inventory_number FROM systems WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .context("assigning a system")?;
                let name: String = row.try_get("name").context("assigning a system")?;
                let inventory: String = row
                    .try_get("inventory_number")
                    .context("assigning a system")?;
                if inventory.is_empty() {
                    name
                } else {
                    format!("{name} ({inventory})")
                }
            }
            None => String::new(),
        };
        insert_entry(
            &mut tx,
            ticket.id,
            EntryKind::SystemChanged,
            Some(author),
            &label,
            now,
        )
        .await?;
        tx.commit().await.context("assigning a system")?;
        Ok(())
    }
}

/// Writes a new call with its attachments inside `tx`: the ticket form and
/// a mail from a known person open calls through here alike.
pub(crate) async fn insert_ticket(
    tx: &mut Transaction<'_, Any>,
    new: &NewTicket,
    attachments: &[NewAttachment],
    year: i32,
    now: Timestamp,
) -> Result<(Id, TicketNumber)> {
    let sequence: i64 = sqlx::query(
        "INSERT INTO ticket_counters (year, last_sequence) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last_sequence = ticket_counters.last_sequence + 1 \
             RETURNING last_sequence",
    )
    .bind(i64::from(year))
    .fetch_one(&mut **tx)
    .await
    .context("numbering a ticket")?
    .try_get("last_sequence")
    .context("numbering a ticket")?;
    check_belongs(
        tx,
        "services",
        "service_id",
        new.service_id,
        new.business_partner_id,
    )
    .await?;
    check_belongs(
        tx,
        "systems",
        "system_id",
        new.system_id,
        new.business_partner_id,
    )
    .await?;
    // The person reported for belongs to the ticket's business partner,
    // and so does the reporter unless they are of the desk: checked in
    // the transaction that writes, whatever the caller checked before.
    for (field, person) in [
        ("reported_by", new.reported_by),
        ("reported_for", new.reported_for),
    ] {
        let desk = if field == "reported_by" { 1 } else { 0 };
        let party = sqlx::query(
            "SELECT 1 AS one FROM persons p WHERE p.id = $1 AND p.active = 1 AND \
                 (EXISTS (SELECT 1 FROM memberships m WHERE m.person_id = p.id \
                  AND m.business_partner_id = $2) OR (p.is_agent = 1 AND $3 = 1))",
        )
        .bind(person)
        .bind(new.business_partner_id)
        .bind(desk)
        .fetch_optional(&mut **tx)
        .await
        .context("checking a party")?;
        if party.is_none() {
            return Err(DomainError::invalid(field, "unknown_choice").into());
        }
    }
    let number = TicketNumber::new(year, sequence);
    let priority = Priority::from_matrix(new.impact, new.urgency);
    let id: Id = sqlx::query(
            "INSERT INTO tickets (number, business_partner_id, kind, status, is_open, reported_by, \
             reported_for, reference, short_text, description, impact, urgency, ticket_type, \
             priority, service_id, system_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
             RETURNING id",
        )
        .bind(number.as_str())
        .bind(new.business_partner_id)
        .bind(TicketKind::Call.code())
        .bind(TicketStatus::New.code())
        .bind(new.reported_by)
        .bind(new.reported_for)
        .bind(new.reference.trim())
        .bind(new.short_text.trim())
        .bind(new.description.trim())
        .bind(new.impact.code())
        .bind(new.urgency.code())
        .bind(new.ticket_type.code())
        .bind(i64::from(priority.level()))
        .bind(new.service_id)
        .bind(new.system_id)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .context("creating a ticket")?
        .try_get("id")
        .context("creating a ticket")?;
    insert_attachments(tx, id, None, new.reported_by, attachments, now).await?;
    outbox::enqueue(
        tx,
        id,
        new.reported_by,
        new.reported_for,
        Event::Created,
        None,
        now,
    )
    .await?;
    Ok((id, number))
}

/// Refuses a service or system that is not of the ticket's business partner.
async fn check_belongs(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    field: &'static str,
    id: Option<Id>,
    business_partner: Id,
) -> Result<()> {
    let Some(id) = id else { return Ok(()) };
    let found = sqlx::query(&format!(
        "SELECT 1 AS one FROM {table} WHERE id = $1 AND business_partner_id = $2 AND active = 1"
    ))
    .bind(id)
    .bind(business_partner)
    .fetch_optional(&mut **tx)
    .await
    .context("checking a choice")?;
    if found.is_none() {
        return Err(DomainError::invalid(field, "unknown_choice").into());
    }
    Ok(())
}

/// The timeline entry of a status change, as `from>to` codes.
pub(crate) async fn record_status_change(
    tx: &mut Transaction<'_, Any>,
    ticket: &Ticket,
    to: TicketStatus,
    author: Id,
    now: Timestamp,
) -> Result<Id> {
    let change = format!("{}>{}", ticket.status.code(), to.code());
    insert_entry(
        tx,
        ticket.id,
        EntryKind::StatusChange,
        Some(author),
        &change,
        now,
    )
    .await
}

pub(crate) async fn insert_entry(
    tx: &mut Transaction<'_, Any>,
    ticket: Id,
    kind: EntryKind,
    author: Option<Id>,
    body: &str,
    now: Timestamp,
) -> Result<Id> {
    sqlx::query(
        "INSERT INTO entries (ticket_id, kind, author_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(ticket)
    .bind(kind.code())
    .bind(author)
    .bind(body.trim())
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .context("adding an entry")?
    .try_get("id")
    .context("adding an entry")
}

pub(crate) async fn insert_attachments(
    tx: &mut Transaction<'_, Any>,
    ticket: Id,
    entry: Option<Id>,
    uploaded_by: Id,
    attachments: &[NewAttachment],
    now: Timestamp,
) -> Result<()> {
    for a in attachments {
        sqlx::query(
            "INSERT INTO attachments (ticket_id, entry_id, file_name, content_type, size, \
             storage_key, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(ticket)
        .bind(entry)
        .bind(&a.file_name)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(&a.storage_key)
        .bind(uploaded_by)
        .bind(now)
        .execute(&mut **tx)
        .await
        .context("recording an attachment")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigram_queries_are_phrases_of_three_characters_or_more() {
        assert_eq!(trigram_query("ab"), None);
        assert_eq!(trigram_query("ü"), None);
        assert_eq!(
            trigram_query("nummer 4711").as_deref(),
            Some("\"nummer 4711\"")
        );
        assert_eq!(
            trigram_query("überhitzung").as_deref(),
            Some("\"überhitzung\"")
        );
        assert_eq!(
            trigram_query("say \"hi\" or").as_deref(),
            Some("\"say \"\"hi\"\" or\"")
        );
        assert_eq!(trigram_query("100%_\\").as_deref(), Some("\"100%_\\\""));
        // Georgian capitals are newer than the tokenizer's tables.
        assert_eq!(trigram_query("ა"), None);
        assert_eq!(trigram_query("abცde fგhi").as_deref(), Some("\"de f\""));
        assert_eq!(
            trigram_query("ab cდef gh").as_deref(),
            Some("\"ab c\" AND \"ef gh\"")
        );
        assert_eq!(trigram_query("ab\0cd"), None);
    }

    #[test]
    fn every_fold_pair_is_known() {
        let folds = all_case_folds();
        assert!(folds.contains(&("Ü".to_string(), "ü".to_string())));
        assert!(folds.contains(&("Ა".to_string(), "ა".to_string())));
        assert!(!folds.iter().any(|(_, small)| small == "ß"));
        assert!(folds.len() > 1000);
    }
}
