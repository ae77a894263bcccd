"""Publish the demo shop's purposes and its first privacy policy, in English and Arabic."""

import hashlib

from django.db import migrations
from django.utils import timezone

PURPOSES = [
    {
        "slug": "necessary",
        "name": "Strictly necessary",
        "description": "Keeping your cart, signing you in and protecting the shop against abuse.",
        "requires_consent": False,
    },
    {
        "slug": "personalization",
        "name": "Personalization",
        "description": "Remembering your searches and the products you look at to suggest products for you.",
        "requires_consent": True,
    },
    {
        "slug": "analytics",
        "name": "Analytics",
        "description": "Counting visits and searches to learn how the shop is used and improve it.",
        "requires_consent": True,
    },
    {
        "slug": "marketing",
        "name": "Marketing",
        "description": "Sending you offers and news about the shop.",
        "requires_consent": True,
    },
]

POLICY_VERSION = "2026-1"

POLICY_EN = """\
This is a demonstration shop. It sells nothing, and the data it holds stays in its own database.

What we collect. To run the shop we keep what you give us at checkout and in your account: your name, \
address, phone number and email address, and your orders. With your consent we also keep your searches \
and the products you view (personalization), count visits (analytics) and send you offers (marketing).

Your consent comes first. We record nothing for personalization, analytics or marketing before you allow \
it, and you can withdraw it at any time, in one click, on the privacy preferences page. When you withdraw \
a purpose, the data we kept for it is erased.

How we protect it. Your personal data is encrypted in our database. Only authorized staff can see it, \
after two-factor authentication, and every time they open it is recorded.

How long we keep it. Only while you deal with us: once the period set for each kind of data has passed, \
we delete or anonymize it. Order records that the law requires us to keep are kept without your personal \
details where we can.

Your rights. You can see your data, download a copy, correct it, withdraw your consent and ask us to \
erase it, from your account pages.

We follow the Saudi Personal Data Protection Law (PDPL) and the EU General Data Protection Regulation \
(GDPR). When this policy changes we publish a new version, and ask for your consent again where needed.
"""

POLICY_AR = """\
هذا متجر تجريبي للعرض. لا يبيع شيئًا، وتبقى البيانات التي يحفظها في قاعدة بياناته الخاصة.

ما نجمعه. لتشغيل المتجر نحفظ ما تقدمه لنا عند إتمام الطلب وفي حسابك: اسمك وعنوانك ورقم هاتفك وبريدك \
الإلكتروني، وطلباتك. وبموافقتك نحفظ أيضًا عمليات البحث والمنتجات التي تشاهدها (التخصيص)، ونحصي الزيارات \
(التحليلات)، ونرسل إليك العروض (التسويق).

موافقتك أولًا. لا نسجل شيئًا للتخصيص أو التحليلات أو التسويق قبل أن تسمح به، ويمكنك سحب موافقتك في أي وقت \
بنقرة واحدة من صفحة تفضيلات الخصوصية. وعندما تسحب موافقتك على غرض ما نمحو البيانات التي حفظناها له.

كيف نحميها. بياناتك الشخصية مشفرة في قاعدة بياناتنا. ولا يطّلع عليها إلا الموظفون المصرح لهم بعد التحقق \
بخطوتين، ويُسجَّل كل اطلاع عليها.

مدة الاحتفاظ. لا نحتفظ ببياناتك إلا مدة تعاملك معنا: فإذا انقضت المدة المحددة لكل نوع من البيانات حذفناها \
أو جعلناها مجهولة الهوية. وسجلات الطلبات التي يلزمنا النظام بحفظها نحفظها دون بياناتك الشخصية حيثما أمكن.

حقوقك. يمكنك من صفحات حسابك الاطلاع على بياناتك وتنزيل نسخة منها وتصحيحها وسحب موافقتك وطلب محوها.

نلتزم بنظام حماية البيانات الشخصية في المملكة العربية السعودية واللائحة العامة لحماية البيانات في الاتحاد \
الأوروبي. وإذا تغيرت هذه السياسة نشرنا نسخة جديدة، وطلبنا موافقتك من جديد عند الحاجة.
"""


def publish(apps, schema_editor):
    Purpose = apps.get_model("privacy_kit", "Purpose")
    PolicyVersion = apps.get_model("privacy_kit", "PolicyVersion")
    for purpose in PURPOSES:
        Purpose.objects.get_or_create(slug=purpose["slug"], defaults=purpose)
    now = timezone.now()
    for language, text in (("en", POLICY_EN), ("ar", POLICY_AR)):
        # Historical models lack PolicyVersion.save(), which fills in the text's hash.
        PolicyVersion.objects.get_or_create(
            version=POLICY_VERSION,
            language=language,
            defaults={"text": text, "text_sha256": hashlib.sha256(text.encode()).hexdigest(), "effective_at": now},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0001_initial"),
        ("privacy_kit", "0001_initial"),
    ]

    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
