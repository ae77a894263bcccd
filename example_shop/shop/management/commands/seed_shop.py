from typing import Any

from django.core.management.base import BaseCommand

from example_shop.shop.catalog import seed_catalog


class Command(BaseCommand):
    help = "Put the demo catalog (categories and products, in English and Arabic) in the database; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        categories, products = seed_catalog()
        self.stdout.write(f"Catalog ready: {categories} categories and {products} products created.")
