-- A secret being set up belongs to the sign-in (or signed-in session) that
-- showed it, not to the person: two sign-ins with the same password used
-- to share one waiting secret, so whoever opened the enrolment page first
-- knew the secret the person then confirmed. The PostgreSQL and SQLite
-- flavours are the same.
ALTER TABLE sessions ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE persons DROP COLUMN totp_pending_secret;
