"""E-mail intake: IMAP and LMTP edges, the processor and what a parsed message becomes."""
