-- Identity (migration 0003): who a connection is comes from the role PostgreSQL
-- authenticated, `session_user`, mapped to a user in member_logins, which only definer
-- functions read. No session setting and no SQL text carries a secret.

DROP FUNCTION public.habitctl_register(text, text, text);
DROP FUNCTION public.habitctl_login_parameters(text);
DROP FUNCTION public.habitctl_login(text, text, text);
DROP FUNCTION public.habitctl_logout(text);

CREATE OR REPLACE FUNCTION public.habitctl_me() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT m.user_id FROM public.member_logins m
     WHERE m.rolname = session_user::text
       AND m.revoked_at IS NULL
       AND (m.expires_at IS NULL OR m.expires_at > pg_catalog.now())
$$;

-- The role a username logs in as. Any name gets an answer of the same form (a name with no
-- account gets one no role has), so the answer does not say whether the account exists.
CREATE FUNCTION public.habitctl_member_role(p_username text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT public.habitctl_role_prefix() || '_u' || pg_catalog.left(pg_catalog.encode(
        pg_catalog.sha256(pg_catalog.convert_to(
            (SELECT s.value FROM public.app_secrets s WHERE s.name = 'decoy_salt_key')
            || '/' || pg_catalog.current_database()::text
            || '/' || pg_catalog.lower(pg_catalog.left(p_username, 64)), 'UTF8')), 'hex'), 24)
$$;

-- Registration arrives by COPY into `registrations` (COPY data never shows in
-- pg_stat_activity); this trigger turns each row into an account and stores nothing there.
-- A taken name is silently skipped: the registrant sees what a free name gives.

CREATE FUNCTION public.habitctl_register_row() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_user integer;
    v_role text := public.habitctl_member_role(NEW.username);
BEGIN
    IF NEW.username !~ '^[a-z0-9_]{3,32}$'
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name = NEW.timezone) THEN
        RAISE EXCEPTION 'not a valid registration: check the username and the time zone'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM public.users u WHERE u.username = NEW.username)
       OR EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = v_role) THEN
        RETURN NULL;
    END IF;
    BEGIN
        INSERT INTO public.users (username, timezone, created_at)
            VALUES (NEW.username, NEW.timezone, pg_catalog.now()) RETURNING id INTO v_user;
    EXCEPTION WHEN unique_violation THEN  -- registered meanwhile by someone else
        RETURN NULL;
    END;
    IF NOT public.habitctl_create_login_role(v_role, NEW.verifier, 'infinity', 2) THEN
        RAISE EXCEPTION 'not a valid registration: the password verifier is malformed'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO public.user_contacts (user_id) VALUES (v_user);
    INSERT INTO public.member_logins (rolname, user_id, kind, created_at)
        VALUES (v_role, v_user, 'member', pg_catalog.now());
    RETURN NULL;
END $$;
CREATE TRIGGER registrations_create_account BEFORE INSERT ON public.registrations
    FOR EACH ROW EXECUTE FUNCTION public.habitctl_register_row();

-- Drop session roles that were revoked or have expired (never the caller's own connection).
CREATE FUNCTION public.habitctl_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_role text;
    v_dropped integer := 0;
BEGIN
    FOR v_role IN
        SELECT m.rolname FROM public.member_logins m
         WHERE m.kind = 'session'
           AND (m.revoked_at IS NOT NULL OR m.expires_at <= pg_catalog.now())
           AND m.rolname <> session_user::text
         ORDER BY m.created_at LIMIT 50
         FOR UPDATE SKIP LOCKED
    LOOP
        IF public.habitctl_drop_login_role(v_role) THEN
            DELETE FROM public.member_logins WHERE rolname = v_role;
            v_dropped := v_dropped + 1;
        END IF;
    END LOOP;
    RETURN v_dropped;
END $$;

-- Shut one session now: no identity from this instant, the role dropped by the next sweep.
CREATE FUNCTION public.habitctl_retire_session(p_role text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    UPDATE public.member_logins SET revoked_at = pg_catalog.now()
     WHERE rolname = p_role AND kind = 'session' AND revoked_at IS NULL;
    PERFORM public.habitctl_drop_login_role(p_role);
END $$;

-- A member, authenticated by their password, opens a session: a new login role whose
-- password is the SCRAM verifier of a random secret the client keeps. `p_replaces` is the
-- session this client held before (logging in again leaves no orphan). Beyond the quota
-- the oldest sessions are retired. Returns the user id, or NULL when refused. It never
-- raises for bad input: an error would print the statement, verifier included, in the log.
CREATE FUNCTION public.habitctl_open_session(p_role text, p_verifier text, p_replaces text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_user integer;
    v_old text;
BEGIN
    SELECT m.user_id INTO v_user FROM public.member_logins m
     WHERE m.rolname = session_user::text AND m.kind = 'member' AND m.revoked_at IS NULL;
    IF v_user IS NULL OR p_role !~ ('^' || public.habitctl_role_prefix() || '_s[0-9a-f]{32}$') THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM public.users WHERE id = v_user FOR UPDATE;  -- one login at a time per user
    IF p_replaces IS NOT NULL AND EXISTS (
            SELECT FROM public.member_logins m
             WHERE m.rolname = p_replaces AND m.user_id = v_user AND m.kind = 'session') THEN
        PERFORM public.habitctl_retire_session(p_replaces);
    END IF;
    FOR v_old IN
        SELECT m.rolname FROM public.member_logins m
         WHERE m.user_id = v_user AND m.kind = 'session' AND m.revoked_at IS NULL
           AND m.expires_at > pg_catalog.now()
         ORDER BY m.created_at DESC OFFSET 4  -- keep 4, the new one makes 5
    LOOP
        PERFORM public.habitctl_retire_session(v_old);
    END LOOP;
    IF NOT public.habitctl_create_login_role(
            p_role, p_verifier, pg_catalog.now() + interval '30 days', 3) THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.member_logins (rolname, user_id, kind, created_at, expires_at)
        VALUES (p_role, v_user, 'session', pg_catalog.now(), pg_catalog.now() + interval '30 days');
    PERFORM public.habitctl_sweep();
    RETURN v_user;
END $$;

-- `habitctl logout`, from the session itself.
CREATE FUNCTION public.habitctl_logout() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM public.member_logins m
                    WHERE m.rolname = session_user::text AND m.kind = 'session') THEN
        RETURN false;
    END IF;
    PERFORM public.habitctl_retire_session(session_user::text);
    PERFORM public.habitctl_sweep();
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION public.habitctl_unlink_telegram() RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    UPDATE public.user_contacts
       SET telegram_chat_id = NULL, telegram_unreachable_at = NULL,
           telegram_unreachable_reason = NULL
     WHERE user_id = public.habitctl_me() AND telegram_chat_id IS NOT NULL
    RETURNING true
$$;

REVOKE ALL ON FUNCTION public.habitctl_member_role(text), public.habitctl_register_row(),
    public.habitctl_sweep(), public.habitctl_retire_session(text),
    public.habitctl_open_session(text, text, text), public.habitctl_logout(),
    public.habitctl_role_prefix(), public.habitctl_is_login_role_name(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.habitctl_role_prefix(), public.habitctl_is_login_role_name(text)
    TO habitctl_registrar;
