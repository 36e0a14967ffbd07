-- Named leases: a job that only one instance may run at a time (the IMAP
-- poller) holds its lease until expires_at and renews it while it works.
-- An instance that dies stops renewing, and another takes over once the
-- lease has expired. The PostgreSQL flavour in ../sqlite is the same.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
