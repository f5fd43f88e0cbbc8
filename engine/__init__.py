"""billplane engine: the pure core (model, money, policies, CEL, evaluation). No I/O here."""
