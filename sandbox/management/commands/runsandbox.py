import ipaddress
import os
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from sandbox.supervisor import Child, Supervisor
from sandbox.trust.tls_server import DEFAULT_IPS, DEFAULT_NAMES, ensure_server_certificate
from tenants import demo, provisioning

WILDCARD_ADDRESSES = ("0.0.0.0", "::")  # noqa: S104 (compared with --bind, not bound)


class Command(BaseCommand):
    help = "Migrate, create the demo account and payers, and run web + TLS listener + Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Plain HTTP port (default 8000).")
        parser.add_argument(
            "--tls-port", type=int, default=8443, help="TLS port, client certificates requested (default 8443)."
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo account and payers.")

    def handle(self, *args, bind, port, tls_port, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write("Database migrated.")

        requeued = provisioning.requeue_stale_jobs()
        if requeued:
            self.stdout.write(f"Re-queued {requeued} payer creation job(s) left unfinished by an earlier run.")
        if not no_demo:
            self._ensure_demo()

        cert, key, ca = ensure_server_certificate(settings.TLS_DIR, *self._tls_names(bind))
        python = sys.executable
        wsgi = "sandbox.wsgi:application"
        common = [
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--workers",
            str(settings.WEB_CONCURRENCY),
            "--graceful-timeout",
            "5",
            "--timeout",
            "120",
            "--no-control-socket",
        ]
        connect_host = "127.0.0.1" if bind in WILDCARD_ADDRESSES else bind
        # Unless configured, the URLs in discovery documents and manifests follow the ports.
        public = {}
        if "SANDBOX_PUBLIC_URL" not in os.environ:
            public["SANDBOX_PUBLIC_URL"] = f"http://{connect_host}:{port}"
        if "SANDBOX_TLS_PUBLIC_URL" not in os.environ:
            public["SANDBOX_TLS_PUBLIC_URL"] = f"https://localhost:{tls_port}"
        children = [
            Child(
                "web",
                [python, "-m", "gunicorn", wsgi, "--bind", f"{bind}:{port}", *common],
                env=public,
                ready_port=(connect_host, port),
            ),
            Child(
                "tls",
                [
                    python,
                    "-m",
                    "gunicorn",
                    wsgi,
                    "--config",
                    "python:sandbox.trust.gunicorn_tls",
                    "--bind",
                    f"{bind}:{tls_port}",
                    "--certfile",
                    str(cert),
                    "--keyfile",
                    str(key),
                    "--cert-reqs",
                    "1",
                    *common,
                ],
                env=public,
                ready_port=(connect_host, tls_port),
            ),
            Child(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "sandbox",
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "2",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "INFO",
                    # Embedded beat for the periodic tasks (CELERY_BEAT_SCHEDULE: export pruning);
                    # production runs `celery -A sandbox beat` once, beside the workers.
                    "--beat",
                    "--schedule",
                    str(settings.DATA_DIR / "celerybeat-schedule"),
                ],
                env=public,
            ),
        ]

        def announce():
            self.stdout.write(self.style.SUCCESS("\nThe sandbox is running:"))
            self.stdout.write(f"  Dashboard      http://{connect_host}:{port}/")
            self.stdout.write(f"  TLS listener   https://localhost:{tls_port}/  (CA: {ca})")
            urls = {
                **{
                    "SANDBOX_PUBLIC_URL": settings.SANDBOX_PUBLIC_URL,
                    "SANDBOX_TLS_PUBLIC_URL": settings.SANDBOX_TLS_PUBLIC_URL,
                },
                **public,
            }
            self.stdout.write(f"  Public URLs    {urls['SANDBOX_PUBLIC_URL']}  {urls['SANDBOX_TLS_PUBLIC_URL']}")
            self.stdout.write(f"  Demo payer     {urls['SANDBOX_PUBLIC_URL']}/t/{demo.DEMO_PAYERS[0][0]}/fhir")
            self.stdout.write("  Press Ctrl-C to stop.\n")

        code = Supervisor(children, out=self.stdout).run(on_ready=announce)
        if code:
            sys.exit(code)

    def _ensure_demo(self):
        user, password = demo.ensure_demo_account()
        created = demo.ensure_demo_payers(user)
        if password:
            self.stdout.write(
                self.style.WARNING(
                    f"Demo account: username '{user.username}', password '{password}' "
                    "(shown this once; set SANDBOX_DEMO_PASSWORD to choose it)."
                )
            )
        else:
            self.stdout.write(f"Demo account: username '{user.username}'.")
        for tenant in created:
            self.stdout.write(f"Creating demo payer {tenant.slug}…")

    @staticmethod
    def _tls_names(bind):
        names = set(DEFAULT_NAMES)
        ips = set(DEFAULT_IPS)
        for url in (settings.SANDBOX_TLS_PUBLIC_URL, settings.SANDBOX_PUBLIC_URL):
            host = urlsplit(url).hostname
            if host:
                try:
                    ips.add(str(ipaddress.ip_address(host)))
                except ValueError:
                    names.add(host)
        if bind not in WILDCARD_ADDRESSES:
            try:
                ips.add(str(ipaddress.ip_address(bind)))
            except ValueError:
                names.add(bind)
        return sorted(names, key=lambda n: n != "localhost"), sorted(ips)
