import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sandbox.seeding.generator import MIN_MEMBERS
from sandbox.seeding.populate import MAX_MEMBERS
from tenants import provisioning
from tenants.models import Tenant, TenantJob


class Command(BaseCommand):
    help = "Create a simulated payer, run its creation job in this process, and print its URLs as JSON."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (default: from the slug).")
        parser.add_argument(
            "--members", type=int, default=None, help=f"Synthetic members to seed ({MIN_MEMBERS} to {MAX_MEMBERS})."
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed of the synthetic data (same seed, same data).")
        parser.add_argument("--owner", help="Username of the owner, who sees the payer on the dashboard.")
        parser.add_argument(
            "--validate-all",
            action="store_true",
            help="Validate every generated resource with fhir.resources (default: a sample; slower).",
        )
        parser.add_argument("--pdex-version", default=Tenant.PdexVersion.V2_0, choices=Tenant.PdexVersion.values)

    def handle(self, *args, slug, name, members, seed, owner, pdex_version, validate_all, **options):
        owner_user = None
        if owner:
            owner_user = get_user_model().objects.filter(username=owner).first()
            if owner_user is None:
                raise CommandError(f"No user named '{owner}'.")
        if members is not None and not MIN_MEMBERS <= members <= MAX_MEMBERS:
            raise CommandError(
                f"--members must be between {MIN_MEMBERS} and {MAX_MEMBERS} (the designed test members alone are four)."
            )
        params = {key: value for key, value in (("members", members), ("seed", seed)) if value is not None}
        if validate_all:
            params["validate_all"] = True
        try:
            tenant, job = provisioning.create_payer(
                name=name or slug.replace("-", " ").title(),
                slug=slug,
                pdex_version=pdex_version,
                owner=owner_user,
                params=params,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(problems) from None

        provisioning.provision(tenant, job.pk)
        tenant.refresh_from_db()
        job = provisioning.latest_job(tenant)
        if job.status != TenantJob.Status.SUCCEEDED:
            raise CommandError(f"Creating {slug} failed: {job.error}")
        self.stdout.write(
            json.dumps(
                {"slug": tenant.slug, "name": tenant.name, "status": tenant.status, **tenant.endpoints()}, indent=2
            )
        )
