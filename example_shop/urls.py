from django.urls import include, path

import privacy_kit.admin
from example_shop.shop import views

urlpatterns = [
    path("admin/", privacy_kit.admin.site.urls),
    path("privacy/", include("privacy_kit.urls")),
    path("", views.home, name="home"),
]
