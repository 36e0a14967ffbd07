-- The desk's quick search (a case-insensitive substring of number, short
-- text or reference over all tickets) narrows its candidates through a
-- trigram index instead of scanning every ticket. The PostgreSQL flavour
-- uses pg_trgm; keep them in step.
--
-- An FTS5 table with the trigram tokenizer over the three columns, its
-- content read from `tickets` (external content: the text is not stored
-- twice). The triggers keep it in step with every write; `rebuild` indexes
-- the tickets that exist already. The tokenizer folds case by Unicode 6.1;
-- the search itself still applies the exact test (`tickets::list_tickets`),
-- so the index only ever has to find a superset.
CREATE VIRTUAL TABLE tickets_search USING fts5 (
    number, short_text, reference,
    content = 'tickets', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO tickets_search (tickets_search) VALUES ('rebuild');

CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_search (rowid, number, short_text, reference)
    VALUES (new.id, new.number, new.short_text, new.reference);
END;
CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, number, short_text, reference)
    VALUES ('delete', old.id, old.number, old.short_text, old.reference);
END;
CREATE TRIGGER tickets_search_update AFTER UPDATE OF number, short_text, reference ON tickets
BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, number, short_text, reference)
    VALUES ('delete', old.id, old.number, old.short_text, old.reference);
    INSERT INTO tickets_search (rowid, number, short_text, reference)
    VALUES (new.id, new.number, new.short_text, new.reference);
END;
