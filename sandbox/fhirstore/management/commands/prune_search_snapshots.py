from django.core.management.base import BaseCommand

from sandbox.fhirstore.search import prune_snapshots


class Command(BaseCommand):
    help = "Delete expired paging snapshots of sorted FHIR searches (FHIR_SEARCH_SNAPSHOT_TTL)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {prune_snapshots()} search snapshots.")
