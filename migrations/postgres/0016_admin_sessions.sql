-- Dashboard sign-ins, kept on the server: the cookie carries a random id
-- (signed with the installation's session secret), stored here only as
-- its SHA-256. A session holds while unexpired, not revoked (sign-out) and
-- made under the current operator token (`token_mark`: an HMAC of it under
-- the session secret, so a new token ends every session and the table
-- holds nothing to guess the token from).
CREATE TABLE admin_sessions (
    id_hash     TEXT   PRIMARY KEY,
    token_mark  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
