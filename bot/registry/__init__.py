"""The registry: initiatives and contacts, their one field
definition, and what is computed from them."""
