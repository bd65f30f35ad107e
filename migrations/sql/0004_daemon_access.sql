-- The daemon's access to what migration 0004 adds: the lease and set-aside columns of
-- habits, and the one-row table whose row lock elects the replica that polls Telegram.
-- Members hold no privilege on daemon_leader, so none can take (or block) the election;
-- an advisory lock would be one key space that every role can take.
GRANT UPDATE (lease_owner, lease_until, reminder_error, reminder_error_at)
    ON habits TO habitctl_daemon;
REVOKE ALL ON daemon_leader FROM PUBLIC;
GRANT SELECT, UPDATE ON daemon_leader TO habitctl_daemon;
