"""privacy_kit's pages in the shop's own layout: ``PRIVACY_KIT["BASE_TEMPLATE"]`` and check privacy_kit.E036.

tests/testapp/templates/testapp/shop_base.html is a shop's base template, with a header
and the blocks docs/consent.md asks for (title, content).
"""

import datetime

import pytest
from django.core import checks
from django.utils import timezone

from privacy_kit.models import PolicyVersion, Purpose

pytestmark = pytest.mark.django_db
SHOP_BASE = "testapp/shop_base.html"
SHOP_HEADER = '<header class="tea-house-header">'


@pytest.fixture
def shop_layout(settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "BASE_TEMPLATE": SHOP_BASE}


@pytest.fixture
def default_layout(settings):
    settings.PRIVACY_KIT = {name: value for name, value in settings.PRIVACY_KIT.items() if name != "BASE_TEMPLATE"}


@pytest.fixture
def policy():
    Purpose.objects.create(slug="analytics", name="Analytics", requires_consent=True)
    return PolicyVersion.objects.create(
        version="1", language="en", text="We keep little.", effective_at=timezone.now() - datetime.timedelta(days=1)
    )


@pytest.fixture
def layla(client, django_user_model):
    user = django_user_model.objects.create_user("layla", password="pw-layla-1")
    client.force_login(user)
    return user


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status
    return response.content.decode()


def test_the_preferences_page_renders_inside_the_shop_base_template(client, shop_layout, policy):
    html = page(client, "/privacy/preferences/")
    assert SHOP_HEADER in html and "Tea House, Riyadh" in html
    assert "<title>Privacy preferences · Tea House</title>" in html
    main = html.split('<main class="tea-house-main">', 1)[1].split("</main>", 1)[0]
    assert "<h1>Privacy preferences</h1>" in main and 'data-purpose-row="analytics"' in main


def test_the_my_data_page_renders_inside_the_shop_base_template(client, shop_layout, policy, layla):
    html = page(client, "/privacy/my-data/")
    assert SHOP_HEADER in html
    main = html.split('<main class="tea-house-main">', 1)[1].split("</main>", 1)[0]
    assert "<h1>My data</h1>" in main and "<bdi>layla</bdi>" in main


def test_the_policy_and_consent_needed_pages_render_inside_the_shop_base_template(client, shop_layout, policy):
    assert SHOP_HEADER in page(client, "/privacy/policy/")
    assert SHOP_HEADER in page(client, "/tests/analytics/", status=403)


def test_by_default_the_pages_extend_privacy_kits_own_base_template(client, default_layout, policy, layla):
    for url in ["/privacy/preferences/", "/privacy/my-data/"]:
        html = page(client, url)
        assert SHOP_HEADER not in html and 'class="site-header"' not in html
        assert ".privacy-purposes { list-style: none" in html  # privacy_kit/base.html's own style


# -- check privacy_kit.E036 ----------------------------------------------------------


def template_errors():
    return [message for message in checks.run_checks(tags=[checks.Tags.templates]) if message.id == "privacy_kit.E036"]


def test_a_base_template_that_does_not_exist_is_an_error_naming_it(settings):
    settings.PRIVACY_KIT = {**settings.PRIVACY_KIT, "BASE_TEMPLATE": "shop/bse.html"}
    [error] = template_errors()
    assert error.msg.startswith("PRIVACY_KIT['BASE_TEMPLATE'] is 'shop/bse.html', which no template loader finds")


def test_a_base_template_that_exists_passes(shop_layout):
    assert template_errors() == []


def test_the_default_base_template_passes(default_layout):
    assert template_errors() == []
