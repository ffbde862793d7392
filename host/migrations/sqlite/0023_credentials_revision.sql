-- The revision of the credentials: a counter that every change to an
-- account or an API token moves on, so that a host process keeping in
-- memory what each token stands for sees, at its next request, that it
-- must look again (a token revoked or an account disabled by another
-- process, the command line included). New tokens and accounts do not
-- move it: nothing is kept for a token the database did not know. (So rows
-- of these tables are never replaced with `INSERT OR REPLACE`, whose
-- deletion fires no trigger here.)
CREATE TABLE credentials_revision (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision BIGINT NOT NULL
);

INSERT INTO credentials_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER api_tokens_revised AFTER UPDATE ON api_tokens BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER api_tokens_removed AFTER DELETE ON api_tokens BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_revised AFTER UPDATE ON accounts BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_removed AFTER DELETE ON accounts BEGIN
    UPDATE credentials_revision SET revision = revision + 1 WHERE id = 1;
END;
