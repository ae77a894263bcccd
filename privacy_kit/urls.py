"""URLs of privacy_kit, mounted by a shop with ``path("privacy/", include("privacy_kit.urls"))``."""

from django.urls import path

from .consent import views as consent_views
from .requests import views as request_views
from .rights import views as rights_views

app_name = "privacy_kit"

urlpatterns = [
    path("consent/", consent_views.consent, name="consent"),
    path("preferences/", consent_views.preferences, name="preferences"),
    path("policy/", consent_views.policy, name="policy"),
    path("api/consent/", consent_views.api, name="api"),
    path("my-data/", rights_views.my_data, name="my_data"),
    path("my-data/export/", rights_views.export_data, name="export_data"),
    path("my-data/delete/", rights_views.delete_account, name="delete_account"),
    path("my-data/deleted/", rights_views.account_deleted, name="account_deleted"),
    path("my-data/correct/", request_views.correct_data, name="correct_data"),
    path("my-data/requests/<int:pk>/download/", request_views.download_copy, name="download_copy"),
]
