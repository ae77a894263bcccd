from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie

from example_shop.urls import urlpatterns as shop_urlpatterns
from privacy_kit.admin import site as admin_site
from privacy_kit.decorators import consent_required

BANNER_PAGE = engines["django"].from_string(
    '{% extends "privacy_kit/base.html" %}{% load privacy_kit %}'
    "{% block content %}<h1>A shop page</h1>{% consent_banner %}{% endblock %}"
)


# It sends the CSRF cookie that the banner's form needs even in a test without
# CsrfViewMiddleware (privacy_kit's views check the token themselves).
@ensure_csrf_cookie
def banner_page(request: HttpRequest) -> HttpResponse:
    """A page that shows the consent banner."""
    return HttpResponse(BANNER_PAGE.render({}, request))


@consent_required("analytics")
def analytics_page(request: HttpRequest) -> HttpResponse:
    """A page that runs only with consent to analytics."""
    return HttpResponse("analytics dashboard")


urlpatterns = [
    path("admin/", admin_site.urls),
    path("tests/banner/", banner_page),
    path("tests/analytics/", analytics_page),
    # The demo shop's pages (privacy_kit's under privacy/); its admin is the same site, mounted above.
    *[pattern for pattern in shop_urlpatterns if str(pattern.pattern) != "admin/"],
]
