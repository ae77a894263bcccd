from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy_kit import crypto


class Command(BaseCommand):
    help = "Generate an encryption or blind-index key, or list the ids of the configured keys."
    requires_system_checks: list[str] = []  # a shop with no key yet runs it to make one

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("generate", help="Print a fresh random key (url-safe base64, 32 bytes).")
        actions.add_parser("ids", help="Print the id of each configured encryption key; the first is primary.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "generate":
            self.stdout.write(crypto.generate_key())
            return
        ring = crypto.keyring()
        for identifier in ring.ciphers:
            role = "primary (encrypts)" if identifier == ring.primary_id else "decrypts only"
            self.stdout.write(f"{identifier.hex()}  {role}")
