"""The moderator web UI: routes, sessions and CSRF, texts, and the read-only page queries."""
