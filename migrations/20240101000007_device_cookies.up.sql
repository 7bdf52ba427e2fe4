-- How many device cookies each account has been issued (one per sign-in). A device cookie
-- carries its number; only the newest few of an account are trusted with a lock-out counter of
-- their own, so however often someone signs in, an account has at most that many.
ALTER TABLE users ADD COLUMN devices_issued bigint NOT NULL DEFAULT 0;
