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
