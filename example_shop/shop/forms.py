from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Order
from .orders import CONTACT_FIELDS


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(label=_("Quantity"), min_value=0, max_value=99, initial=1)


class CheckoutForm(forms.ModelForm):
    save_details = forms.BooleanField(
        label=_("Save these details for my next order"),
        required=False,
        help_text=_("Kept encrypted; you can delete them at any time with your account."),
    )

    class Meta:
        model = Order
        fields = CONTACT_FIELDS
        widgets = {
            "address": forms.Textarea(attrs={"rows": 3}),
            # Phone numbers and addresses of email read left to right in Arabic pages too.
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "dir": "ltr"}),
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email", "dir": "ltr"}),
        }

    def contact(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in CONTACT_FIELDS}
