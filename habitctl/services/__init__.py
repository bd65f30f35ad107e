"""Services: the operations. Each takes a Session, never commits, raises domain errors."""
