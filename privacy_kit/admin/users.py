"""The user admin of privacy_kit's site: Django's ``UserAdmin`` with email and names masked and each opening logged."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model

from .personal_data import PersonalDataAdmin
from .sites import site


class UserAdmin(PersonalDataAdmin, auth_admin.UserAdmin):
    """Django's UserAdmin whose list masks email and names; opening a user writes an AccessLog row (their own)."""

    personal_fields = ["first_name", "last_name", "email"]


def replace_user_admin() -> None:
    """Put :class:`UserAdmin` on ``site`` in place of Django's own, when that is the one registered there."""
    user_model = get_user_model()
    # Importing django.contrib.auth.admin (above) registered Django's UserAdmin on the default
    # site, whether the admin's autodiscover ran before this or not. A project's own user admin
    # is another class: it is kept, and check privacy_kit.W040 does not judge it (users are not
    # in the registry).
    registered = site._registry.get(user_model)
    if type(registered) is auth_admin.UserAdmin:
        site.unregister(user_model)
        admin.register(user_model, site=site)(UserAdmin)


replace_user_admin()
