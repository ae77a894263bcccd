from django.contrib import admin
from django.urls import include, path

from example_shop.shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("privacy/", include("privacy_kit.urls")),
    path("", views.home, name="home"),
]
