"""Retraining that cannot make things worse: a candidate per retrain request, judged against the champion on the
same held-back recent window; the champion alias moves only when the candidate is better (README "Retraining")."""
