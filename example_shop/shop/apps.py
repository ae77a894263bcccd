from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "example_shop.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
