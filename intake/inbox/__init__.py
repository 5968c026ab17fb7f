"""The inbound store: raw mail is committed here before anything acts on it."""
