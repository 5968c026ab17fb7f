"""The platform every part stands on: settings, the database,
workers, leases, and the plumbing of pages and mail headers."""
