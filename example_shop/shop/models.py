"""The demo shop's data: a bilingual catalog, carts, orders and saved contact details.

Contact details (the customer's and each order's) are encrypted at rest; what
the shop keeps of them and for how long is declared in ``privacy.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from privacy_kit.fields import EncryptedCharField, EncryptedEmailField, EncryptedTextField

phone_validator = RegexValidator(r"^\+?[\d\s-]{7,20}$", _("Enter a phone number, such as +966 55 123 4567."))


class Translated:
    """Read a field kept in English and Arabic (``name_en``, ``name_ar``) in the active language."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
        value = getattr(instance, f"{self.field}_{language}", "")
        return value or getattr(instance, f"{self.field}_en")


class Category(models.Model):
    slug = models.SlugField(_("slug"), unique=True)
    name_en = models.CharField(_("name in English"), max_length=100)
    name_ar = models.CharField(_("name in Arabic"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    name = Translated("name")

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return str(self.name)

    def get_absolute_url(self) -> str:
        return reverse("shop:category", args=[self.slug])


class ProductQuerySet(models.QuerySet):
    def matching(self, query: str) -> ProductQuerySet:
        """Return the products whose name, description or category contains every word of ``query``."""
        condition = Q()
        for word in query.split():
            condition &= (
                Q(name_en__icontains=word)
                | Q(name_ar__icontains=word)
                | Q(description_en__icontains=word)
                | Q(description_ar__icontains=word)
                | Q(category__name_en__icontains=word)
                | Q(category__name_ar__icontains=word)
            )
        return self.filter(condition)

    def best_selling(self) -> ProductQuerySet:
        """Order the products by how many orders they are in, most first."""
        return self.annotate(orders=Count("order_items__order", distinct=True)).order_by("-orders", "pk")


class Product(models.Model):
    category = models.ForeignKey(
        Category, verbose_name=_("category"), related_name="products", on_delete=models.PROTECT
    )
    slug = models.SlugField(_("slug"), unique=True)
    name_en = models.CharField(_("name in English"), max_length=200)
    name_ar = models.CharField(_("name in Arabic"), max_length=200)
    description_en = models.TextField(_("description in English"), blank=True)
    description_ar = models.TextField(_("description in Arabic"), blank=True)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])

    name = Translated("name")
    description = Translated("description")

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return str(self.name)

    def get_absolute_url(self) -> str:
        return reverse("shop:product", args=[self.slug])


class Cart(models.Model):
    """A cart: a signed-in customer's own, or a visitor's, found through the session."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        related_name="shop_cart",
        on_delete=models.CASCADE,
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"

    def lines(self) -> list[CartItem]:
        return list(self.items.select_related("product").order_by("pk"))

    def add(self, product: Product, quantity: int = 1) -> CartItem:
        """Put ``quantity`` more of ``product`` in the cart."""
        item, created = self.items.get_or_create(product=product, defaults={"quantity": quantity})
        if not created:
            item.quantity += quantity
            item.save(update_fields=["quantity"])
        self.save(update_fields=["updated_at"])
        return item

    def set_quantity(self, product: Product, quantity: int) -> None:
        """Keep exactly ``quantity`` of ``product`` in the cart; zero takes it out."""
        if quantity <= 0:
            self.items.filter(product=product).delete()
        else:
            self.items.update_or_create(product=product, defaults={"quantity": quantity})
        self.save(update_fields=["updated_at"])

    def merge(self, other: Cart) -> None:
        """Move the lines of ``other`` into this cart and delete ``other``."""
        for line in other.lines():
            self.add(line.product, line.quantity)
        other.delete()


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cart", "product"], name="shop_cartitem_once_per_cart")]
        verbose_name = _("cart item")
        verbose_name_plural = _("cart items")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity


class Order(models.Model):
    """An order: the contact details are encrypted; the amounts and the date stay for the accounts."""

    # PROTECT: an account with orders is erased through privacy_kit (which anonymizes
    # the orders first), never deleted with its orders' personal data left behind.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        related_name="orders",
        on_delete=models.PROTECT,
    )
    full_name = EncryptedCharField(_("full name"), max_length=200)
    address = EncryptedTextField(_("address"))
    city = EncryptedCharField(_("city"), max_length=100)
    phone = EncryptedCharField(_("phone"), max_length=30, validators=[phone_validator])
    email = EncryptedEmailField(_("email"))
    subtotal = models.DecimalField(_("subtotal"), max_digits=10, decimal_places=2)
    shipping = models.DecimalField(_("shipping"), max_digits=10, decimal_places=2)
    total = models.DecimalField(_("total"), max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(_("placed at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("shop:order", args=[self.pk])


class OrderItem(models.Model):
    """A line of an order, with the product's name and price as they were when it was ordered."""

    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), null=True, related_name="order_items", on_delete=models.SET_NULL
    )
    name_en = models.CharField(_("name in English"), max_length=200)
    name_ar = models.CharField(_("name in Arabic"), max_length=200)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"))

    name = Translated("name")

    class Meta:
        ordering = ["pk"]
        verbose_name = _("order item")
        verbose_name_plural = _("order items")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class SavedAddress(models.Model):
    """A customer's delivery details, saved at checkout to fill in the next one: encrypted at rest."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        related_name="saved_address",
        on_delete=models.CASCADE,
    )
    full_name = EncryptedCharField(_("full name"), max_length=200)
    address = EncryptedTextField(_("address"))
    city = EncryptedCharField(_("city"), max_length=100)
    phone = EncryptedCharField(_("phone"), max_length=30, validators=[phone_validator])
    email = EncryptedEmailField(_("email"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("saved address")
        verbose_name_plural = _("saved addresses")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"


class Customer(models.Model):
    """A customer record kept by staff in the admin: every piece of contact data is encrypted at rest."""

    name = EncryptedCharField(_("name"), max_length=200)
    email = EncryptedEmailField(_("email"), searchable=True)
    phone = EncryptedCharField(_("phone"), max_length=30, blank=True)
    address = EncryptedTextField(_("address"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"
