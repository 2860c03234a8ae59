from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sandbox.seeding import loaders
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Load FHIR Bundles (batch, transaction, collection) or NDJSON files into a payer. Every resource is "
        "validated first; nothing is loaded unless everything is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, slug, files, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No payer named '{slug}'.")
        missing = [name for name in files if not Path(name).is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        result = self.load(tenant, files)
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(str(problem))
            more = result.problem_count - len(result.problems)
            if more:
                self.stderr.write(f"... and {more} more problem(s).")
            raise CommandError(f"Nothing was loaded: {result.problem_count} problem(s).")
        by_type = ", ".join(f"{count} {name}" for name, count in sorted(result.counts.items()))
        self.stdout.write(
            f"Loaded {result.total} resources into {slug} ({result.created} created, {result.updated} updated): "
            f"{by_type}"
        )

    def load(self, tenant, files):
        return loaders.load(tenant, [loaders.Source.from_path(name) for name in files])
