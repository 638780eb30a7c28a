"""Stage 3, the Instance page: the evidence for an instance (quotas, prices, capacity), the choice, cost."""
