"""The shop's records in privacy_kit's admin: contact details masked in lists, every opened record logged.

Each ModelAdmin is a ``PersonalDataAdmin``, so an order or a saved address also
gives staff the "Export this customer's data" and "Erase this customer" actions.
"""

from django.contrib import admin

from privacy_kit.admin import PersonalDataAdmin

from .models import Customer, Order, OrderItem, SavedAddress


@admin.register(Customer)
class CustomerAdmin(PersonalDataAdmin):
    list_display = ["__str__", "name", "email", "phone", "created_at"]
    # Matched exactly, in any case, through the blind index of the encrypted email.
    search_fields = ["email"]


class OrderItemInline(admin.TabularInline):
    """An order's lines, as they were ordered: nobody changes them afterwards."""

    model = OrderItem
    fields = ["product", "name_en", "name_ar", "unit_price", "quantity"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(PersonalDataAdmin):
    list_display = ["__str__", "full_name", "city", "total", "created_at"]
    date_hierarchy = "created_at"
    # The order's number, or the account's exact username or email: the contact
    # details of an order are encrypted without a blind index, so they are not searched.
    search_fields = ["=id", "=user__username", "=user__email"]
    raw_id_fields = ["user"]
    # The amounts and the date are the shop's accounts; the contact details may be corrected.
    readonly_fields = ["subtotal", "shipping", "total", "created_at"]
    inlines = [OrderItemInline]

    def has_add_permission(self, request):
        return False  # orders come from the checkout


@admin.register(SavedAddress)
class SavedAddressAdmin(PersonalDataAdmin):
    list_display = ["__str__", "full_name", "city", "updated_at"]
    search_fields = ["=user__username", "=user__email"]
    raw_id_fields = ["user"]
