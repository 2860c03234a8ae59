import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.trust import certificates, directory


class Command(BaseCommand):
    help = (
        "Import mtls-bundle files: a Payer-Payer checkout (bundles/*.json), a directory of JSON files, "
        "single files or a zip. A rejected file imports nothing; the exit status is 1 if any was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")

    def handle(self, *args, paths, **options):
        files = []
        for path in paths:
            if path.endswith(".zip"):
                with open(path, "rb") as fh:
                    files += directory.files_from_upload(path, fh.read())
            else:
                files += directory.files_from_directory(path)
        report = directory.import_files(files)
        certificates.publish_trust()
        self.stdout.write(
            json.dumps(
                {
                    "imported": [{"file": n, "entry": e.slug, "name": e.name} for n, e in report.imported],
                    "rejected": [{"file": n, "reason": r} for n, r in report.rejected],
                },
                indent=2,
            )
        )
        if report.rejected:
            raise CommandError(f"{len(report.rejected)} file(s) rejected; see 'rejected' above.")
