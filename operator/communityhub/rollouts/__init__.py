"""Fleet operations: staged rollouts of chart and value changes across the hubs."""
