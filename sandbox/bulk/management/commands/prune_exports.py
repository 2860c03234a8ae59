from django.core.management.base import BaseCommand

from sandbox.bulk import export


class Command(BaseCommand):
    help = "Delete expired Bulk Data exports with their files, and queue again jobs whose worker died."

    def add_arguments(self, parser):
        parser.add_argument("--no-resume", action="store_true", help="Only prune; do not re-queue stale jobs.")

    def handle(self, *args, **options):
        pruned = export.prune_expired()
        self.stdout.write(f"Deleted {pruned} expired export(s).")
        if not options["no_resume"]:
            resumed = export.resume_stale()
            self.stdout.write(f"Queued {resumed} stale export(s) again.")
