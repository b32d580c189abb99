"""The command lines for people: ``hubctl`` (billing, KPIs, guards)."""
