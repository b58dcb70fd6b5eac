"""Per-series alert thresholds learnt from reviewers' verdicts (gold.feedback) and an alert budget per week."""
