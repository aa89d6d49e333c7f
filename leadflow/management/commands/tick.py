from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leadflow.scheduler import run_tick


class Command(BaseCommand):
    help = (
        "Run one synchronous scheduler pass (what beat triggers every minute) as of now "
        "or of --at; for operators when workers are down, and for tests: the jobs do "
        "their heavy work (rescoring, decay) themselves instead of enqueuing it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            help="the instant to run as of, ISO 8601 with a time zone, e.g. 2026-11-25T09:00Z",
        )

    def handle(self, *args, at=None, **options):
        now = timezone.now()
        if at:
            now = parse_datetime(at)
            if now is None:
                raise CommandError(f"--at {at!r} is not an ISO 8601 date-time")
            if timezone.is_naive(now):
                raise CommandError(f"--at {at!r} has no time zone: add one, e.g. {at}Z")
        run = run_tick(now, inline=True)
        for name, result in run.results.items():
            self.stdout.write(f"{name}: {result}")
        for name, error in run.errors.items():
            self.stderr.write(f"{name} FAILED: {error}")
        if run.errors:
            raise CommandError(f"{len(run.errors)} job(s) failed")
        self.stdout.write(self.style.SUCCESS(f"tick as of {run.as_of.isoformat()} done"))
