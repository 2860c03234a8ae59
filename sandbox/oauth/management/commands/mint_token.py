from django.core.management.base import BaseCommand, CommandError

from sandbox.oauth.tokens import mint_token
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Print a bearer token of a simulated payer, for tools that take one (e.g. a test harness)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--scope", required=True, help='Space-separated scopes, e.g. "system/*.read"')
        parser.add_argument("--lifetime", type=int, default=3600, help="Seconds until the token expires")

    def handle(self, *args, slug, scope, lifetime, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"There is no simulated payer '{slug}'.")
        if lifetime <= 0:
            raise CommandError("--lifetime must be a positive number of seconds.")
        if not scope.strip():
            raise CommandError("--scope must name at least one scope.")
        self.stdout.write(mint_token(tenant, scope, lifetime).token)
