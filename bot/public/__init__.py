"""The public site: catalogue, entry pages, statistics, map, open
data, and the contacts' own pages."""
