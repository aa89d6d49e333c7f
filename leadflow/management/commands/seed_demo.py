from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from leadflow.demo import demo_logins_text, seed_demo


class Command(BaseCommand):
    help = "Load the demo data set: users, a team, campaigns and thousands of leads with history."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=3000, help="how many leads (default 3000)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="exit quietly when demo data is already there (what `make run` uses)",
        )

    def handle(self, *args, leads, seed, if_empty, **options):
        if leads < 0:
            raise CommandError("--leads must be 0 or more")
        result = seed_demo(now=timezone.now(), leads=leads, seed=seed)
        if not result.created:
            if if_empty:
                self.stdout.write("Demo data already loaded.")
                self.stdout.write(demo_logins_text())
                return
            raise CommandError("Demo data is already loaded (the demo users have leads).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.leads} leads with {result.stage_changes} stage changes "
                f"and {result.emails} nurture emails."
            )
        )
        self.stdout.write(demo_logins_text())
