"""Storage: the SQLite store (the only SQL) and the library (scanning, identity)."""
