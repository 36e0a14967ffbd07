-- The desk sorts all open (or closed) tickets by any column; without an
-- index per sort key a page would sort every open ticket.
CREATE INDEX tickets_by_state_priority ON tickets (is_open, priority, id);
CREATE INDEX tickets_by_state_number ON tickets (is_open, number, id);
CREATE INDEX tickets_by_state_created ON tickets (is_open, created_at, id);
CREATE INDEX tickets_by_state_status ON tickets (is_open, status, id);
CREATE INDEX tickets_by_state_short_text ON tickets (is_open, short_text, id);
