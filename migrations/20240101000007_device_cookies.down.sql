ALTER TABLE users DROP COLUMN devices_issued;
