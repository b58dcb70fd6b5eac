"""Alerts: anomaly events -> rules -> the ops.alerts outbox -> webhook / Slack / e-mail, each notification recorded
once per event, rule and channel. Entry points: :class:`lakewatch.alerts.notifier.Notifier` (the score stream's
hook) and :func:`lakewatch.alerts.job.run_alerts` (the alerts job)."""
