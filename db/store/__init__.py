"""The store: engines, the raw driver, every statement, migrations and outage rules."""
