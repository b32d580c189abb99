"""Moving hubs a provider deploys today onto CommunityHubs (``hubctl import``): their values stacks merged as
helm merges them, and what users get on each side compared."""
