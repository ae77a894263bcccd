from django.contrib import admin

from privacy_kit.admin import PersonalDataAdmin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(PersonalDataAdmin):
    list_display = ["__str__", "name", "email", "phone", "created_at"]
    # Matched exactly, in any case, through the blind index of the encrypted email.
    search_fields = ["email"]
