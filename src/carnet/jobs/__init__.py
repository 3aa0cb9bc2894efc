"""Scheduled jobs: domain modules register them, `carnet jobs run` and `carnet serve` run the due ones."""
