from django.urls import include, path

import privacy_kit.admin

urlpatterns = [
    path("admin/", privacy_kit.admin.site.urls),
    path("privacy/", include("privacy_kit.urls")),
    # Django's set_language view: the language switcher posts to it.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("example_shop.shop.urls")),
]
