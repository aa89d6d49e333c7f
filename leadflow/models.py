from django.db import models


class TickRun(models.Model):
    """One scheduler pass: what each job did, as of which instant."""

    as_of = models.DateTimeField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=dict, blank=True)  # job name → its summary
    errors = models.JSONField(default=dict, blank=True)  # job name → error message

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-started_at"], name="tickrun_started_idx")]

    def __str__(self) -> str:
        return f"tick as of {self.as_of:%Y-%m-%d %H:%M:%S}"

    @property
    def ok(self) -> bool:
        return not self.errors


class JobState(models.Model):
    """One scheduler job's last run, across every pass and process: when it is next due,
    and whether it keeps failing (healthz reports it)."""

    name = models.CharField(max_length=100, unique=True)
    last_as_of = models.DateTimeField(null=True, blank=True)  # of its last successful run
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # of its last run, empty when it succeeded
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"job {self.name}"
