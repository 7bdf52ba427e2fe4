-- As migrations/20240101000007_device_cookies.up.sql for PostgreSQL.
ALTER TABLE users ADD COLUMN devices_issued INTEGER NOT NULL DEFAULT 0;
