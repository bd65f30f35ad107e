"""The domain core: validation and scheduling maths. Knows no screen and no database."""
