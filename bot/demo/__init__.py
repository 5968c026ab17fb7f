"""The demo: realistic data, a mail sandbox and replies through the real intake path."""
