"""The living catalog for product review: what the feature files promise, which stand-in fault
proves each check, how each scenario has stood in the history, and what changed since a release."""
