"""Services of the local stack that are ours (moto and the registry are third-party)."""
