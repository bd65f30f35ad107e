-- Undo 0003 on PostgreSQL (the Python migration then restores 0002's functions and grants).
DO $$
DECLARE
    v_role text;
BEGIN
    FOR v_role IN SELECT rolname FROM public.member_logins LOOP
        PERFORM public.habitctl_drop_login_role(v_role);
    END LOOP;
END $$;

DROP POLICY gate_public ON public.habits;
DROP POLICY gate_public ON public.users;
DROP POLICY gate_none ON public.user_contacts;
DROP POLICY member_read ON public.users;
DROP POLICY member_update ON public.users;
DROP POLICY member_own ON public.user_contacts;
DROP POLICY member_read ON public.habits;
DROP POLICY member_insert ON public.habits;
DROP POLICY member_update ON public.habits;
DROP POLICY member_own ON public.completions;
DROP POLICY member_read ON public.reminder_deliveries;
DROP POLICY member_own ON public.telegram_link_codes;
DROP POLICY daemon_all ON public.daemon_leader;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM habitctl_member;
GRANT SELECT, INSERT, UPDATE ON public.send_slots, public.app_state TO habitctl_daemon;

DROP TRIGGER registrations_create_account ON public.registrations;
DROP TRIGGER habits_generated_id ON public.habits;
DROP TRIGGER completions_generated_id ON public.completions;
DROP TRIGGER telegram_link_codes_generated_id ON public.telegram_link_codes;
DROP TRIGGER users_timezone_rule ON public.users;
DROP TRIGGER habits_r8_stays_pleasant ON public.habits;
DROP TRIGGER habits_quota ON public.habits;
DROP TRIGGER telegram_link_codes_quota ON public.telegram_link_codes;
ALTER TABLE public.habits
    DROP CONSTRAINT ck_habits_action, DROP CONSTRAINT ck_habits_place,
    DROP CONSTRAINT ck_habits_reward, DROP CONSTRAINT ck_habits_time,
    DROP CONSTRAINT ck_habits_r4, DROP CONSTRAINT ck_habits_r6,
    DROP CONSTRAINT ck_habits_next_reminder_at, DROP CONSTRAINT ck_habits_link_not_self;
ALTER TABLE public.completions DROP CONSTRAINT ck_completions_local_date;
ALTER TABLE public.user_contacts DROP CONSTRAINT ck_user_contacts_email,
    DROP CONSTRAINT ck_user_contacts_telegram_username;
ALTER TABLE public.telegram_link_codes DROP CONSTRAINT ck_telegram_link_codes_expires_at;
DROP FUNCTION public.habitctl_register_row(), public.habitctl_open_session(text, text, text),
    public.habitctl_logout(), public.habitctl_sweep(), public.habitctl_retire_session(text),
    public.habitctl_member_role(text), public.habitctl_check_timezone(),
    public.habitctl_refuse_unpleasing_a_linked_habit(), public.habitctl_delete_habit(bigint),
    public.habitctl_delete_completion(bigint, date), public.habitctl_linking_habits(bigint, integer),
    public.habitctl_enforce_habit_quota(), public.habitctl_enforce_link_code_quota(),
    public.habitctl_create_login_role(text, text, timestamptz, integer),
    public.habitctl_drop_login_role(text), public.habitctl_is_login_role_name(text),
    public.habitctl_role_prefix(), public.habitctl_is_plain_text(text, integer),
    public.habitctl_generated_id();

-- Back to serial integer ids.
DROP TRIGGER habits_link_rule ON public.habits;
ALTER TABLE public.habits DROP CONSTRAINT fk_habits_linked_habit_id_habits;
ALTER TABLE public.completions DROP CONSTRAINT fk_completions_habit_id_habits;
ALTER TABLE public.reminder_deliveries DROP CONSTRAINT fk_reminder_deliveries_habit_id_habits;
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['habits', 'completions', 'telegram_link_codes'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE public.%I ALTER COLUMN id DROP IDENTITY', v_table);
        EXECUTE pg_catalog.format('ALTER TABLE public.%I ALTER COLUMN id TYPE integer', v_table);
        EXECUTE pg_catalog.format('CREATE SEQUENCE public.%I OWNED BY public.%I.id',
                                  v_table || '_id_seq', v_table);
        EXECUTE pg_catalog.format(
            'ALTER TABLE public.%I ALTER COLUMN id SET DEFAULT pg_catalog.nextval(%L::regclass)',
            v_table, 'public.' || v_table || '_id_seq');
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.setval(%L, coalesce((SELECT max(id) FROM public.%I), 0) + 1, false)',
            'public.' || v_table || '_id_seq', v_table);
    END LOOP;
END $$;
ALTER TABLE public.habits ALTER COLUMN linked_habit_id TYPE integer;
ALTER TABLE public.completions ALTER COLUMN habit_id TYPE integer;
ALTER TABLE public.reminder_deliveries ALTER COLUMN habit_id TYPE integer;
ALTER TABLE public.habits ADD CONSTRAINT fk_habits_linked_habit_id_habits
    FOREIGN KEY (linked_habit_id) REFERENCES public.habits (id) ON DELETE RESTRICT;
ALTER TABLE public.completions ADD CONSTRAINT fk_completions_habit_id_habits
    FOREIGN KEY (habit_id) REFERENCES public.habits (id) ON DELETE CASCADE;
ALTER TABLE public.reminder_deliveries ADD CONSTRAINT fk_reminder_deliveries_habit_id_habits
    FOREIGN KEY (habit_id) REFERENCES public.habits (id) ON DELETE CASCADE;
CREATE TRIGGER habits_link_rule BEFORE INSERT OR UPDATE OF linked_habit_id, user_id
    ON public.habits FOR EACH ROW EXECUTE FUNCTION public.habitctl_check_link();
GRANT USAGE ON SEQUENCE public.completions_id_seq TO habitctl_daemon;
CREATE POLICY cli_own ON completions FOR ALL TO habitctl_cli
    USING (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()))
    WITH CHECK (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()));
CREATE POLICY cli_read ON reminder_deliveries FOR SELECT TO habitctl_cli
    USING (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()));
