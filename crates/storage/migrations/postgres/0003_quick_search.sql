-- The desk's quick search (a case-insensitive substring of number, short
-- text or reference over all tickets) narrows its candidates through a
-- trigram index instead of scanning every ticket. The SQLite flavour uses
-- FTS5; keep them in step.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the
-- owner of the database may create it. Its GIN operator class serves
-- `LOWER(column) LIKE '%…%'` for patterns with at least one trigram and
-- rechecks every candidate, so results are those of the plain LIKE.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One index for open and one for closed tickets, as the lists filter by
-- state: a search of the open tickets reads only their (shorter) posting
-- lists. (Among the new calls, which their own index finds, a search
-- scans.) New rows wait in a pending list that every search reads in full;
-- at the default 4 MB that costs a search up to some 15 ms, at 64 kB (the
-- least) nothing worth mentioning, for writes that cost a little more.
CREATE INDEX tickets_search_open ON tickets USING gin (
    lower(number) gin_trgm_ops, lower(short_text) gin_trgm_ops, lower(reference) gin_trgm_ops
) WITH (gin_pending_list_limit = 64) WHERE is_open = 1;
CREATE INDEX tickets_search_closed ON tickets USING gin (
    lower(number) gin_trgm_ops, lower(short_text) gin_trgm_ops, lower(reference) gin_trgm_ops
) WITH (gin_pending_list_limit = 64) WHERE is_open = 0;

-- Partial indexes give the planner no statistics on their expressions.
-- With these it can tell a rare term (use the index, sort the few matches)
-- from a common one (walk the list in its order and stop after a page).
-- They are gathered now: until then every term would look rare.
CREATE STATISTICS tickets_search_terms ON (lower(number)), (lower(short_text)), (lower(reference))
    FROM tickets;
ANALYZE tickets;
