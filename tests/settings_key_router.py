"""Test settings with the subject keys in a database of their own, routed by KeyRouter (run in a subprocess)."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import PRIVACY_KIT

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["ROUTER_TEST_DEFAULT_DB"]},
    "keys": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["ROUTER_TEST_KEYS_DB"]},
}
DATABASE_ROUTERS = ["privacy_kit.keys.routers.KeyRouter"]
PRIVACY_KIT = {**PRIVACY_KIT, "KEY_DATABASE": "keys"}
