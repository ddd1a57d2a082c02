"""Two-stage recommendation: candidates from several retrieval sources, ranked by XGBoost."""
