"""URLs of privacy_kit, mounted by a shop with ``path("privacy/", include("privacy_kit.urls"))``."""

from django.urls import path

from .consent import views as consent_views

app_name = "privacy_kit"

urlpatterns = [
    path("consent/", consent_views.consent, name="consent"),
    path("preferences/", consent_views.preferences, name="preferences"),
    path("policy/", consent_views.policy, name="policy"),
    path("api/consent/", consent_views.api, name="api"),
]
