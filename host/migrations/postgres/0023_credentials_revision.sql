-- Every change to an account or an API token is announced on the channel
-- `hutong_credentials` when it commits, so that each host process keeping
-- in memory what each token stands for drops what it kept (a token revoked
-- or an account disabled by another process, the command line included).
-- New tokens and accounts are not announced: nothing is kept for a token
-- the database did not know.
CREATE FUNCTION credentials_revised() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hutong_credentials', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_revised AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();

CREATE TRIGGER accounts_revised AFTER UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_revised();
