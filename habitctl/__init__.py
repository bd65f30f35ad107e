"""habitctl: build habits the Atomic Habits way, from the terminal, with Telegram reminders."""

__version__ = "0.1.0"
