"""What a hub is made of (pure): its names, its chart values, the tenant policy, who may log in, why a rollout
waits, and the text of the DELIVERED email."""
