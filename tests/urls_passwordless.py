"""The tests' URLs with django-otp-webauthn's own views mounted, whose login needs no password (check W044)."""

from django.urls import include, path

from tests.urls import urlpatterns as test_urlpatterns

urlpatterns = [*test_urlpatterns, path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn"))]
