"""The yearly report: figures counted from the version history at the reference date,
a frozen copy per year, and its renderings (page, PDF, CSV, JSON)."""
