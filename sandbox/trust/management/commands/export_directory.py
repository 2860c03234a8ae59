import json

from django.core.management.base import BaseCommand

from sandbox.trust import directory


class Command(BaseCommand):
    help = "Write the whole endpoint directory to DIR in the Payer-Payer repository layout (bundles/*.json)."

    def add_arguments(self, parser):
        parser.add_argument("out", help="Target directory (a Payer-Payer checkout works).")

    def handle(self, *args, out, **options):
        written = directory.export_to(out)
        self.stdout.write(json.dumps({"files": [str(p) for p in written]}, indent=2))
