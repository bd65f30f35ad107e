-- The daemon's access to what migration 0006 adds. Snoozes ("Later" presses) are written,
-- claimed and cancelled by the daemon only; members see none (deleting a habit deletes
-- its snoozes through the foreign key). The key that signs button data is readable by
-- the daemon and by no member, so nobody else can issue a button the daemon accepts.
REVOKE ALL ON reminder_snoozes FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON reminder_snoozes TO habitctl_daemon;
GRANT USAGE ON SEQUENCE reminder_snoozes_id_seq TO habitctl_daemon;
ALTER TABLE reminder_snoozes ENABLE ROW LEVEL SECURITY;
CREATE POLICY daemon_all ON reminder_snoozes FOR ALL TO habitctl_daemon USING (true);

GRANT SELECT ON app_secrets TO habitctl_daemon;
CREATE POLICY daemon_button_key ON app_secrets FOR SELECT TO habitctl_daemon
    USING (name = 'button_key');
