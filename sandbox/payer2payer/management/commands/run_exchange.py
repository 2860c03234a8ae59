import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from sandbox.payer2payer import exchange
from sandbox.trust.models import DirectoryEntry
from tenants.models import Tenant


def find_entry(value):
    """A directory entry by slug, id, or the slug of the simulated payer it belongs to."""
    query = Q(slug=value) | Q(tenant__slug=value)
    if value.isdigit():
        query |= Q(pk=int(value))
    return DirectoryEntry.objects.filter(query).first()


class Command(BaseCommand):
    help = (
        "Pull a member's history from another payer in the directory (payer-to-payer, this payer as the new "
        "payer) and print the run's step-by-step report as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the simulated payer acting as the new payer")
        parser.add_argument("--target", required=True, help="directory entry (slug, id or payer slug) of the old payer")
        parser.add_argument("--member", required=True, help="the member's Patient id at this payer")
        parser.add_argument("--queue", action="store_true", help="send the run to a worker instead of running it here")

    def handle(self, slug, target, member, queue=False, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No payer '{slug}'.")
        entry = find_entry(target)
        if entry is None:
            raise CommandError(f"No directory entry '{target}'.")
        run = exchange.start_run(tenant, entry, member, enqueue=queue)
        if queue:
            self.stdout.write(json.dumps({"run": run.pk, "status": run.status}))
            return
        run = exchange.run_exchange(tenant, run.pk)
        report = {
            "run": run.pk,
            "status": run.status,
            "summary": run.summary,
            "stored": run.stored,
            "unchanged": run.unchanged,
            "steps": [
                {"title": s["title"], "verdict": s["verdict"], "explanation": s["explanation"], "checks": s["checks"]}
                for s in run.steps
            ],
        }
        self.stdout.write(json.dumps(report, indent=2))
        if run.status != run.Status.SUCCEEDED:
            raise CommandError(run.summary)
