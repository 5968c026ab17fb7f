"""The pure parsing core: raw mail bytes in, a ParseResult out (no database, network or web)."""
