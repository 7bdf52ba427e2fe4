DROP FUNCTION asm_end_attempt(text, bigint, bigint, bigint, bigint);
DROP FUNCTION asm_begin_attempt(text, bigint, bigint, bigint);
DROP FUNCTION asm_create_session(text, text, text, text, bigint, bigint, bigint, bigint, bigint);
DROP TABLE login_counters;
DROP TABLE session_credentials;
DROP TABLE sessions;
