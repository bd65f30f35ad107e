"""The reminder daemon: claims due reminders, sends them through Telegram, records them."""
