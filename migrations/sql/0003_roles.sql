-- Login roles for members and their sessions (migration 0003, docs/security.md).
--
-- Two functions may create or drop roles, both owned by habitctl_registrar: a NOLOGIN role
-- with CREATEROLE that owns nothing else. Only habitctl_owner's functions may call them, and
-- each runs one fixed statement on a name it has checked against this database's pattern:
--   hc<8 hex of the database>_u<24 hex>  a member (password login, set at registration)
--   hc<8 hex of the database>_s<32 hex>  a session (random 256-bit secret, 30 days)
-- The password given is always a SCRAM-SHA-256 verifier computed by the client, so no plain
-- password reaches the server. The names never carry a username (pg_roles is public).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'habitctl_registrar')
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'habitctl_member') THEN
        RAISE EXCEPTION 'roles habitctl_registrar and habitctl_member are missing'
            USING HINT = 'run `habitctl db upgrade --roles` (or `habitctl db roles`) as a '
                         'PostgreSQL admin first';
    END IF;
END $$;

-- This database's prefix: roles are cluster-wide, databases are not.
CREATE FUNCTION public.habitctl_role_prefix() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT 'hc' || pg_catalog.left(pg_catalog.md5(pg_catalog.current_database()::text), 8)
$$;

CREATE FUNCTION public.habitctl_is_login_role_name(p_role text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p_role ~ ('^' || public.habitctl_role_prefix() || '_(u[0-9a-f]{24}|s[0-9a-f]{32})$')
$$;

CREATE FUNCTION public.habitctl_create_login_role(
    p_role text, p_verifier text, p_valid_until timestamptz, p_connection_limit integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- Refuse before EXECUTE: an error inside it would print the statement in the log.
    IF NOT public.habitctl_is_login_role_name(p_role)
       OR p_verifier !~ '^SCRAM-SHA-256\$[0-9]{4,7}:[A-Za-z0-9+/=]{4,64}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$'
       OR p_connection_limit NOT BETWEEN 1 AND 10
       OR p_valid_until IS NULL
       OR EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = p_role) THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE ROLE %I WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
        'NOBYPASSRLS CONNECTION LIMIT %s PASSWORD %L VALID UNTIL %L IN ROLE habitctl_member',
        p_role, p_connection_limit, p_verifier, p_valid_until);
    RETURN true;
END $$;

-- Drop a member's or session's role; a role still in use by this very connection cannot
-- be dropped, so it is only shut (NOLOGIN, out of habitctl_member) and dropped later.
CREATE FUNCTION public.habitctl_drop_login_role(p_role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT public.habitctl_is_login_role_name(p_role)
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = p_role) THEN
        RETURN true;
    END IF;
    IF p_role = session_user::text THEN
        EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN VALID UNTIL %L', p_role, '-infinity');
        EXECUTE pg_catalog.format('REVOKE habitctl_member FROM %I', p_role);
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('DROP ROLE %I', p_role);
    RETURN true;
END $$;

ALTER FUNCTION public.habitctl_create_login_role(text, text, timestamptz, integer)
    OWNER TO habitctl_registrar;
ALTER FUNCTION public.habitctl_drop_login_role(text) OWNER TO habitctl_registrar;
REVOKE ALL ON FUNCTION public.habitctl_create_login_role(text, text, timestamptz, integer),
    public.habitctl_drop_login_role(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.habitctl_create_login_role(text, text, timestamptz, integer),
    public.habitctl_drop_login_role(text) TO habitctl_owner;
