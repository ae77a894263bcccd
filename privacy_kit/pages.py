"""The customer-facing pages of privacy_kit in the shop's own layout (``PRIVACY_KIT["BASE_TEMPLATE"]``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

from .conf import app_settings


class PageResponse(TemplateResponse):
    """A TemplateResponse whose context gives ``base_template``, the template privacy_kit's pages extend."""

    def __init__(
        self, request: HttpRequest, template: str, context: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(request, template, {"base_template": app_settings.BASE_TEMPLATE, **(context or {})}, **kwargs)
