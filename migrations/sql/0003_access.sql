-- Who may touch what (migration 0003). Members' rights go to the NOLOGIN group role
-- habitctl_member, which every member and session role is in; the shared gate role
-- habitctl_cli may only register, ask for a login role name, and read public habits.
--
-- No runtime role holds a table-level UPDATE, DELETE or TRUNCATE on a shared table: those are
-- what LOCK TABLE needs for its strong modes (INSERT allows only ROW EXCLUSIVE, which any
-- open INSERT holds anyway). Members update through column-level grants and delete through
-- definer functions; the ids of what they insert are generated whatever they send.

DROP POLICY cli_read ON public.users;
DROP POLICY cli_update ON public.users;
DROP POLICY cli_own ON public.user_contacts;
DROP POLICY cli_read ON public.habits;
DROP POLICY cli_insert ON public.habits;
DROP POLICY cli_update ON public.habits;
DROP POLICY cli_delete ON public.habits;
DROP POLICY cli_own ON public.telegram_link_codes;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM habitctl_cli;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM habitctl_cli, habitctl_daemon, habitctl_api;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM habitctl_cli;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

ALTER TABLE public.member_logins ENABLE ROW LEVEL SECURITY;
-- registrations has no row security: COPY cannot feed a table that has it. Nobody may read
-- it, and its trigger keeps no row.
ALTER TABLE public.daemon_leader ENABLE ROW LEVEL SECURITY;

-- The gate: registration by COPY, the login role of a name, public habits.
GRANT SELECT ON public.alembic_version TO habitctl_cli, habitctl_member;
GRANT INSERT (username, verifier, timezone) ON public.registrations TO habitctl_cli;
GRANT EXECUTE ON FUNCTION public.habitctl_member_role(text), public.habitctl_sweep()
    TO habitctl_cli;
GRANT SELECT ON public.habits, public.users, public.user_contacts TO habitctl_cli;
-- user_contacts: readable so that loading a public habit's owner works, but never a row.
CREATE POLICY gate_none ON public.user_contacts FOR SELECT TO habitctl_cli USING (false);
CREATE POLICY gate_public ON public.habits FOR SELECT TO habitctl_cli USING (is_public);
CREATE POLICY gate_public ON public.users FOR SELECT TO habitctl_cli
    USING (EXISTS (SELECT FROM public.habits h WHERE h.user_id = users.id AND h.is_public));

-- Members: their own data, plus public habits and their owners' names.
GRANT EXECUTE ON FUNCTION public.habitctl_me(), public.habitctl_unlink_telegram(),
    public.habitctl_open_session(text, text, text), public.habitctl_logout(),
    public.habitctl_delete_habit(bigint), public.habitctl_delete_completion(bigint, date),
    public.habitctl_sweep() TO habitctl_member;
GRANT SELECT, UPDATE (timezone) ON public.users TO habitctl_member;
CREATE POLICY member_read ON public.users FOR SELECT TO habitctl_member USING (
    id = public.habitctl_me()
    OR EXISTS (SELECT FROM public.habits h WHERE h.user_id = users.id AND h.is_public));
CREATE POLICY member_update ON public.users FOR UPDATE TO habitctl_member
    USING (id = public.habitctl_me()) WITH CHECK (id = public.habitctl_me());
GRANT SELECT, UPDATE (email, telegram_username) ON public.user_contacts TO habitctl_member;
CREATE POLICY member_own ON public.user_contacts FOR ALL TO habitctl_member
    USING (user_id = public.habitctl_me()) WITH CHECK (user_id = public.habitctl_me());
GRANT SELECT, INSERT,
    UPDATE (action, place, "time", periodicity_days, duration_seconds, is_pleasant, reward,
            linked_habit_id, is_public, next_reminder_at, created_at, updated_at)
    ON public.habits TO habitctl_member;
CREATE POLICY member_read ON public.habits FOR SELECT TO habitctl_member
    USING (user_id = public.habitctl_me() OR is_public);
CREATE POLICY member_insert ON public.habits FOR INSERT TO habitctl_member
    WITH CHECK (user_id = public.habitctl_me());
CREATE POLICY member_update ON public.habits FOR UPDATE TO habitctl_member
    USING (user_id = public.habitctl_me()) WITH CHECK (user_id = public.habitctl_me());
GRANT SELECT, INSERT ON public.completions TO habitctl_member;
CREATE POLICY member_own ON public.completions FOR ALL TO habitctl_member
    USING (EXISTS (SELECT FROM public.habits h
                    WHERE h.id = habit_id AND h.user_id = public.habitctl_me()))
    WITH CHECK (EXISTS (SELECT FROM public.habits h
                         WHERE h.id = habit_id AND h.user_id = public.habitctl_me()));
GRANT SELECT ON public.reminder_deliveries TO habitctl_member;
CREATE POLICY member_read ON public.reminder_deliveries FOR SELECT TO habitctl_member
    USING (EXISTS (SELECT FROM public.habits h
                    WHERE h.id = habit_id AND h.user_id = public.habitctl_me()));
GRANT SELECT, INSERT ON public.telegram_link_codes TO habitctl_member;
CREATE POLICY member_own ON public.telegram_link_codes FOR ALL TO habitctl_member
    USING (user_id = public.habitctl_me()) WITH CHECK (user_id = public.habitctl_me());
GRANT SELECT ON public.app_state TO habitctl_member;

-- The daemon: as before, minus table-level UPDATE (column grants instead), plus its leader
-- election row, which nobody else can read or lock.
REVOKE UPDATE ON public.send_slots, public.app_state FROM habitctl_daemon;
GRANT UPDATE (next_at) ON public.send_slots TO habitctl_daemon;
GRANT UPDATE (value) ON public.app_state TO habitctl_daemon;
GRANT SELECT, UPDATE (holder, heartbeat_at) ON public.daemon_leader TO habitctl_daemon;
CREATE POLICY daemon_all ON public.daemon_leader FOR ALL TO habitctl_daemon USING (true);
INSERT INTO public.daemon_leader (id) VALUES (1) ON CONFLICT DO NOTHING;
GRANT USAGE ON SEQUENCE public.reminder_deliveries_id_seq TO habitctl_daemon;
