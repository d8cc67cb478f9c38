"""``tcpconform mutate``: the catalogue's sent segments mutated field by field, survival checked."""
