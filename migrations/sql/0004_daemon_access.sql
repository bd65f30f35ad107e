-- The daemon's access to what migration 0004 adds: the lease and set-aside columns of
-- habits. Members hold no UPDATE on them, so none can lease or set aside a habit.
GRANT UPDATE (lease_owner, lease_until, reminder_error, reminder_error_at)
    ON habits TO habitctl_daemon;
