"""Money (pure): fees and invoices, the cloud-cost ledger, active users, and a dedicated hub's estimate."""
