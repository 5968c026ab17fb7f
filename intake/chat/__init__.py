"""The chat intake: a pure conversation, its store and its web edge."""
