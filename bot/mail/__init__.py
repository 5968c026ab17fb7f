"""Outgoing mail: the outbox and its sender, reply tokens, and a contact's mail status."""
