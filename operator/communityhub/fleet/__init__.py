"""Fleet decisions (pure): the money and lifecycle guards, their notices, decommissioning, and the plan of a
staged rollout."""
