"""privacy_kit in Arabic: its shipped catalog, its pages right-to-left, and purpose names from the shop's catalog."""

import ast
import datetime
import gettext
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone, translation

import privacy_kit
from privacy_kit.models import PolicyVersion, Purpose
from tests.runs import settings_only

pytestmark = pytest.mark.django_db

CATALOG = Path(privacy_kit.__file__).resolve().parent / "locale" / "ar" / "LC_MESSAGES"
SHOP_LOCALE = Path(__file__).resolve().parent.parent / "example_shop" / "locale"
# The purposes the demo shop publishes, in English, as its data migration stores them.
DEMO_PURPOSES = importlib.import_module("example_shop.shop.migrations.0002_purposes_and_policy").PURPOSES
ARABIC = {"HTTP_ACCEPT_LANGUAGE": "ar"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def po_entries(path):
    """Return the entries of a .po file as (flags, fields), fields mapping msgid, msgid_plural, msgstr[n]..."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        flags, fields, key = "", {}, ""
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += line
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            elif not line.startswith("#"):
                key, _, value = line.partition(" ")
                fields[key] = ast.literal_eval(value)
        if "msgid" in fields:
            entries.append((flags, fields))
    return entries


def translations(fields):
    """Return the msgstr values of an entry: one, or one per plural form."""
    return [value for key, value in fields.items() if key.startswith("msgstr")]


@pytest.fixture(autouse=True)
def _language_reset():
    """Leave no language active: LocaleMiddleware activates the request's in this thread."""
    yield
    translation.deactivate()


@pytest.fixture
def shop_translations(settings):
    """The shop's catalog, which translates its purpose names, whatever tests/settings.py lists."""
    settings.LOCALE_PATHS = [SHOP_LOCALE]


@pytest.fixture
def demo_purposes():
    for purpose in DEMO_PURPOSES:
        Purpose.objects.create(**purpose)
    return PolicyVersion.objects.create(
        version="1", language="en", text="Policy", effective_at=timezone.now() - datetime.timedelta(days=1)
    )


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("layla", password="pw-Layla-1")


# -- the catalog ------------------------------------------------------------


def test_every_privacy_kit_string_has_an_arabic_translation():
    entries = po_entries(CATALOG / "django.po")[1:]  # after the header
    assert len(entries) > 150
    assert [fields["msgid"] for _, fields in entries if not all(translations(fields))] == []


@settings_only
def test_every_string_the_source_marks_is_in_the_catalog(tmp_path):
    """makemessages over a copy of the package adds no entry that the shipped catalog lacks."""
    package = Path(privacy_kit.__file__).resolve().parent
    copy = tmp_path / "privacy_kit"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    # django-admin, not python -m django: the copy holds a celery.py that must not shadow Celery.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(package.parent)}
    subprocess.run(
        [Path(sys.executable).parent / "django-admin", "makemessages", "--locale", "ar", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    entries = po_entries(copy / "locale" / "ar" / "LC_MESSAGES" / "django.po")[1:]
    # msgmerge gives a new string the translation of a similar one, marked fuzzy.
    missing = [fields["msgid"] for flags, fields in entries if "fuzzy" in flags or not all(translations(fields))]
    assert missing == []


def test_no_arabic_translation_is_fuzzy():
    assert [fields["msgid"] for flags, fields in po_entries(CATALOG / "django.po") if "fuzzy" in flags] == []


def test_every_plural_has_the_six_arabic_forms():
    header = po_entries(CATALOG / "django.po")[0][1]["msgstr"]
    assert "Plural-Forms: nplurals=6;" in header
    plurals = [fields for _, fields in po_entries(CATALOG / "django.po") if "msgid_plural" in fields]
    assert plurals and all(len(translations(fields)) == 6 for fields in plurals)


def test_every_translation_keeps_the_placeholders_of_its_msgid():
    for _, fields in po_entries(CATALOG / "django.po")[1:]:
        expected = sorted(PLACEHOLDER.findall(fields.get("msgid_plural", fields["msgid"])))
        for text in translations(fields):
            assert sorted(PLACEHOLDER.findall(text)) == expected, fields["msgid"]


def test_the_compiled_catalog_is_up_to_date_with_the_po():
    expected = {}
    for _, fields in po_entries(CATALOG / "django.po")[1:]:  # msgfmt rewrites the header
        # gettext keys a message with a context as "context\x04msgid".
        msgid = f"{fields['msgctxt']}\x04{fields['msgid']}" if "msgctxt" in fields else fields["msgid"]
        if "msgid_plural" in fields:
            expected.update({(msgid, n): text for n, text in enumerate(translations(fields))})
        else:
            expected[msgid] = fields["msgstr"]
    with open(CATALOG / "django.mo", "rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog
    assert {key: text for key, text in catalog.items() if key != ""} == expected


# -- the pages in Arabic ----------------------------------------------------


def test_the_preferences_page_is_right_to_left_and_in_arabic(client, demo_purposes):
    content = client.get("/privacy/preferences/", **ARABIC).content.decode()
    assert '<html lang="ar" dir="rtl">' in content
    assert "تفضيلات الخصوصية" in content and "مفعّل دائمًا: لا يعمل المتجر بدونه." in content


def test_the_my_data_page_is_right_to_left_and_in_arabic(client, user, demo_purposes):
    client.force_login(user)
    content = client.get("/privacy/my-data/", **ARABIC).content.decode()
    assert '<html lang="ar" dir="rtl">' in content
    assert "<h2>ما نحفظه عنك</h2>" in content and "حذف حسابي" in content


def test_the_admin_login_page_is_right_to_left_and_in_arabic(client):
    content = client.get("/admin/login/", **ARABIC).content.decode()
    assert 'dir="rtl"' in content
    assert "في المرة الأولى اتركه فارغًا: ستُعِدّ تطبيق المصادقة في الخطوة التالية." in content


def test_an_english_page_stays_left_to_right_and_in_english(client, demo_purposes):
    content = client.get("/privacy/preferences/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en" dir="ltr">' in content and "Privacy preferences" in content


# -- purpose names, from the shop's catalog ------------------------------------


def test_every_demo_purpose_has_an_arabic_name_and_description(shop_translations):
    with translation.override("ar"):
        for purpose in DEMO_PURPOSES:
            assert translation.gettext(purpose["name"]) != purpose["name"]
            assert translation.gettext(purpose["description"]) != purpose["description"]


def test_the_banner_names_the_purposes_in_arabic(client, shop_translations, demo_purposes):
    content = client.get("/tests/banner/", **ARABIC).content.decode()
    assert 'id="privacy-banner"' in content and "قبول الكل" in content
    assert "التخصيص" in content and "حفظ عمليات بحثك والمنتجات التي تشاهدها" in content
    assert "Personalization" not in content


@pytest.mark.parametrize(
    "url, heading", [("/privacy/preferences/", "<h2>{}</h2>"), ("/privacy/my-data/", "<strong>{}</strong>")]
)
def test_the_privacy_pages_name_the_purposes_in_arabic(client, user, shop_translations, demo_purposes, url, heading):
    client.force_login(user)
    content = client.get(url, **ARABIC).content.decode()
    assert heading.format("التحليلات") in content and heading.format("التسويق") in content
    assert heading.format("Analytics") not in content


def test_the_consent_required_page_names_the_purpose_in_arabic(client, shop_translations, demo_purposes):
    response = client.get("/tests/analytics/", **ARABIC)
    assert response.status_code == 403
    assert "«التحليلات»" in response.content.decode()


def test_the_consent_api_names_the_purposes_in_arabic(client, shop_translations, demo_purposes):
    names = {entry["slug"]: entry["name"] for entry in client.get("/privacy/api/consent/", **ARABIC).json()["purposes"]}
    assert names["analytics"] == "التحليلات"
