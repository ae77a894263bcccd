"""The names and descriptions of the shop's purposes, for makemessages to keep in locale/ar/.

Purposes are database rows, published in English by migration 0002. privacy_kit's
templates show them with ``{% translate purpose.name %}``, which looks the stored
text up in the catalogs at runtime: the strings here must match the migration's.
Nothing imports this module; gettext_noop only marks the strings for extraction.
"""

from django.utils.translation import gettext_noop

PURPOSE_TEXTS = [
    gettext_noop("Strictly necessary"),
    gettext_noop("Keeping your cart, signing you in and protecting the shop against abuse."),
    gettext_noop("Personalization"),
    gettext_noop("Remembering your searches and the products you look at to suggest products for you."),
    gettext_noop("Analytics"),
    gettext_noop("Counting visits and searches to learn how the shop is used and improve it."),
    gettext_noop("Marketing"),
    gettext_noop("Sending you offers and news about the shop."),
]
