from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.models import ApiKeyScope
from core.services import api_key_create, sentry_dsn


class Command(BaseCommand):
    help = "Creates an API key and prints it once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", action="append", required=True, choices=ApiKeyScope.values, dest="scopes")
        parser.add_argument("--device", default="", help="Bind the key to one device uid")
        parser.add_argument("--fleet", default="", help="Bind the key to one fleet")
        parser.add_argument(
            "--dsn", metavar="PORTAL_URL", default="",
            help="Print a Sentry DSN for the key instead (scheme://host of the portal): key as public key, id as project",
        )  # fmt: skip

    def handle(self, *args, name, scopes, device, fleet, dsn, **options):
        try:
            api_key, raw_key = api_key_create(name=name, scopes=scopes, device_uid=device, fleet=fleet)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stderr.write(f"Created API key '{api_key.name}' with scopes {api_key.scopes}. It is shown once:")
        if dsn:
            try:
                self.stdout.write(sentry_dsn(portal_url=dsn, raw_key=raw_key, api_key=api_key))
            except ValueError as exc:
                api_key.delete()  # never leave a key nobody was shown
                raise CommandError(f"--dsn: {exc}") from None
            return
        self.stdout.write(raw_key)
