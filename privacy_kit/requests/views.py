"""The my-data page's request views: correct one's data, and download a copy that staff prepared.

Both act on the logged-in user only, after their password, like the page's
download and deletion (``privacy_kit.rights.views``); an id of someone else's
row or request is refused with 403 and recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from ..crypto import DecryptionError
from ..models import SecurityEvent
from ..rights.export import export_response
from ..rights.views import (
    FOREIGN_SUBJECT_MSG,
    TOO_MANY_EXPORTS_MSG,
    ConfirmPasswordForm,
    _foreign_subject,
    _page,
    may_export,
    refuse_foreign,
)
from .corrections import FORM_KEYS, CorrectionRefused, correction_form, subject_row
from .models import DataRequest
from .my_data import downloadable
from .workflow import fulfil, open_request, verify

NOT_DOWNLOADABLE_MSG = _("There is no copy of your data to download for that request.")
CORRECTION_FAILED_MSG = _(
    "That entry cannot be read just now, so it cannot be corrected. Nothing was changed. Please try again later."
)
EXPORT_FAILED_MSG = _("Your data could not be put together just now. Nothing was downloaded. Please try again later.")


@login_required
@require_POST
@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def correct_data(request: HttpRequest) -> HttpResponse:
    """Correct the correctable fields of one of the user's rows, as a correction request fulfilled at once."""
    refused = _foreign_subject(request, SecurityEvent.Kind.CORRECTION)
    if refused:
        return refused
    label, pk = request.POST.get("model", ""), request.POST.get("row", "")
    data = request.POST.copy()
    for key in FORM_KEYS:
        data.pop(key, None)
    try:
        row = subject_row(request.user, label, pk)
    except DecryptionError:
        return _page(request, status=500, correction_error=CORRECTION_FAILED_MSG)
    except CorrectionRefused as error:
        if error.foreign:
            refuse_foreign(request, SecurityEvent.Kind.CORRECTION)
            return HttpResponseForbidden(str(error))
        return _page(request, status=400, correction_error=str(error))
    password = ConfirmPasswordForm(request, request.POST)
    if not password.is_valid():
        form = correction_form(row, data)
        return _page(
            request,
            status=400,
            correction_error=password.errors["password"][0],
            bound_correction=(label, pk, form),
        )
    try:
        # The request is on the record only with the correction: one refused for its values changes nothing.
        with transaction.atomic(using=router.db_for_write(DataRequest)):
            data_request = open_request(
                request.user, kind=str(DataRequest.Kind.CORRECTION), channel=str(DataRequest.Channel.MY_DATA)
            )
            verify(data_request, method=str(DataRequest.IdentityMethod.SESSION_PASSWORD))
            fulfil(data_request, request=request, correction=(row, data))
    except CorrectionRefused as error:
        form = correction_form(subject_row(request.user, label, pk), data)
        form.is_valid()
        for name, messages in error.errors.items():
            if name not in form.fields:
                form.add_error(None, messages)
        return _page(request, status=400, correction_error=str(error), bound_correction=(label, pk, form))
    return redirect(f"{reverse('privacy_kit:my_data')}?corrected={data_request.pk}#corrections")


@login_required
@require_POST
@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def download_copy(request: HttpRequest, pk: Any) -> HttpResponse:
    """Send the user the copy of their data that a fulfilled access or copy request offers them."""
    data_request = DataRequest.objects.filter(pk=pk).first()
    if data_request is None or data_request.subject_id != request.user.pk:
        refuse_foreign(request, SecurityEvent.Kind.EXPORT)
        return HttpResponseForbidden(str(FOREIGN_SUBJECT_MSG))
    if not downloadable(data_request):
        return _page(request, status=404, download_error=NOT_DOWNLOADABLE_MSG)
    password = ConfirmPasswordForm(request, request.POST)
    if not password.is_valid():
        return _page(request, status=400, download_error=password.errors["password"][0])
    try:
        with transaction.atomic():
            if not may_export(request.user):
                return _page(request, status=429, download_error=TOO_MANY_EXPORTS_MSG)
            return export_response(request, request.user)
    except DecryptionError:
        return _page(request, status=500, download_error=EXPORT_FAILED_MSG)
