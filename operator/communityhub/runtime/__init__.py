"""What makes it an operator, not a domain: settings, the clock, logs, metrics, leader election."""
