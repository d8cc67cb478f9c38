"""The TCP vocabulary every layer shares, with no I/O: the segment, sequence-number arithmetic
(modulo 2^32), the option table, the TCP states, the deterministic test payload."""
