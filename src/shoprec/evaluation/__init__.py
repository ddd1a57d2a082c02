"""Full-ranking evaluation: metrics, bootstrap intervals, test targets, the in-memory holdout."""
