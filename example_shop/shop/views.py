"""Pages of the demo shop.

Behavioral data goes through ``privacy_kit.tracking.record`` only, which keeps
nothing unless the customer consented to the purpose.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.generic import CreateView, DetailView, FormView, ListView, TemplateView

from privacy_kit import tracking

from .carts import cart_for
from .forms import CheckoutForm, QuantityForm
from .models import Category, Order, Product, SavedAddress
from .orders import CONTACT_FIELDS, cart_totals, place_order
from .privacy import ANALYTICS, PERSONALIZATION
from .recommendations import best_sellers, recommended_for

# Longer searches are cut: nobody types more, and it bounds what is stored.
MAX_QUERY_LENGTH = 100
# Bidi embeddings, overrides and isolates (U+202A-E, U+2066-9): in a search term they would turn
# the shop's own text after it around, in the title and the heading that repeat the term.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def home(request: HttpRequest) -> HttpResponse:
    """Show the categories, the best-sellers and, with consent to personalization, picks for this customer."""
    context = {
        "categories": Category.objects.all(),
        "best_sellers": best_sellers(),
        "personalized": request.privacy.has(PERSONALIZATION),  # type: ignore[attr-defined]
    }
    if context["personalized"]:
        context["recommended"] = recommended_for(request)
    return render(request, "shop/home.html", context)


def search(request: HttpRequest) -> HttpResponse:
    """Search the catalog, in English and Arabic; remember the search only under consent to personalization."""
    query = request.GET.get("q", "").translate(BIDI_CONTROLS).strip()[:MAX_QUERY_LENGTH]
    context: dict[str, Any] = {"query": query, "products": Product.objects.none(), "remembered": False}
    if query:
        context["products"] = Product.objects.matching(query).select_related("category")
        event = tracking.record(request, "search", {"q": query}, purpose=PERSONALIZATION)
        context["remembered"] = event is not None
    return render(request, "shop/search.html", context)


class CategoryView(DetailView):
    model = Category
    template_name = "shop/category.html"


class ProductView(DetailView):
    queryset = Product.objects.select_related("category")
    template_name = "shop/product.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        tracking.record(request, "product_view", {"product": self.object.slug}, purpose=PERSONALIZATION)
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        related = Product.objects.filter(category=self.object.category).exclude(pk=self.object.pk)[:4]
        return super().get_context_data(**kwargs, related=related)


# Pages that show the customer's cart, orders, address or phone are never cached: after a logout,
# the browser's Back button must not show them again.
@never_cache
def cart(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/cart.html", cart_totals(cart_for(request)))


@require_POST
def cart_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Put a product in the cart (one, or the quantity posted)."""
    product = get_object_or_404(Product, slug=slug)
    form = QuantityForm(request.POST or {"quantity": 1})
    quantity = form.cleaned_data["quantity"] if form.is_valid() else 0
    if quantity < 1:
        messages.error(request, _("Choose a quantity from 1 to 99."))
        return redirect(product)
    cart_for(request, create=True).add(product, quantity)  # type: ignore[union-attr]
    tracking.record(request, "cart", {"product": product.slug, "quantity": quantity}, purpose=PERSONALIZATION)
    messages.success(request, _("%(product)s is in your cart.") % {"product": product.name})
    return redirect("shop:cart")


@require_POST
def cart_update(request: HttpRequest, slug: str) -> HttpResponse:
    """Change how many of a product the cart holds; zero takes it out."""
    product = get_object_or_404(Product, slug=slug)
    form = QuantityForm(request.POST)
    basket = cart_for(request)
    if not form.is_valid():
        messages.error(request, _("Choose a quantity from 0 to 99."))
    elif basket is not None:
        basket.set_quantity(product, form.cleaned_data["quantity"])
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    basket = cart_for(request)
    if basket is not None:
        basket.set_quantity(product, 0)
        messages.success(request, _("%(product)s is out of your cart.") % {"product": product.name})
    return redirect("shop:cart")


# The form posts the name, address and phone: an error report must not carry them.
@method_decorator([never_cache, sensitive_post_parameters()], name="dispatch")
class CheckoutView(LoginRequiredMixin, FormView):
    """Ask for the delivery details and place the order; the details are stored encrypted."""

    form_class = CheckoutForm
    template_name = "shop/checkout.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            self.cart = cart_for(request)
            self.totals = cart_totals(self.cart)
            if not self.totals["lines"]:
                messages.info(request, _("Your cart is empty."))
                return redirect("shop:cart")
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        saved = SavedAddress.objects.filter(user=self.request.user).first()
        if saved is None:
            return {"email": self.request.user.email}  # type: ignore[union-attr]
        return {name: getattr(saved, name) for name in CONTACT_FIELDS} | {"save_details": True}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs, **self.totals)

    def form_valid(self, form: CheckoutForm) -> HttpResponse:
        request, user = self.request, self.request.user
        contact = form.contact()
        order = place_order(self.cart, user=user, contact=contact)  # type: ignore[arg-type]
        if form.cleaned_data["save_details"]:
            SavedAddress.objects.update_or_create(user=user, defaults=contact)
        else:
            # Unticked: the customer does not want them kept.
            SavedAddress.objects.filter(user=user).delete()
        products = list(order.items.exclude(product=None).values_list("product__slug", flat=True))
        tracking.record(request, "purchase", {"order": order.pk, "products": products}, purpose=ANALYTICS)
        messages.success(request, _("Thank you! Your order is placed."))
        return redirect(order)


@method_decorator(never_cache, name="dispatch")
class OrderListView(LoginRequiredMixin, ListView):
    template_name = "shop/order_list.html"
    context_object_name = "orders"

    def get_queryset(self) -> QuerySet:
        return Order.objects.filter(user=self.request.user).prefetch_related("items")


@method_decorator(never_cache, name="dispatch")
class OrderDetailView(LoginRequiredMixin, DetailView):
    """Show one of the customer's own orders; anyone else's is not found."""

    template_name = "shop/order_detail.html"
    context_object_name = "order"

    def get_queryset(self) -> QuerySet:
        return Order.objects.filter(user=self.request.user).prefetch_related("items")


@method_decorator(never_cache, name="dispatch")
class AccountView(LoginRequiredMixin, TemplateView):
    template_name = "shop/account.html"


@method_decorator(sensitive_post_parameters("password1", "password2"), name="dispatch")
class SignupView(CreateView):
    """Create an account with Django's own form and sign the new customer in."""

    form_class = UserCreationForm
    template_name = "shop/signup.html"
    success_url = reverse_lazy("shop:account")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return redirect(self.get_success_url())
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: UserCreationForm) -> HttpResponse:
        user = form.save()
        # Several backends are installed (axes first): name the one that signs in.
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, _("Welcome! Your account is ready."))
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        )
        return target if safe else reverse("shop:account")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs, next=self.request.GET.get("next", ""))

