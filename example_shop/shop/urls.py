from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("categories/<slug:slug>/", views.CategoryView.as_view(), name="category"),
    path("products/<slug:slug>/", views.ProductView.as_view(), name="product"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<slug:slug>/", views.cart_add, name="cart_add"),
    path("cart/update/<slug:slug>/", views.cart_update, name="cart_update"),
    path("cart/remove/<slug:slug>/", views.cart_remove, name="cart_remove"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
    path("orders/", views.OrderListView.as_view(), name="orders"),
    path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="order"),
    # Django's default LOGIN_URL and LOGIN_REDIRECT_URL, so no setting is needed.
    path("accounts/profile/", views.AccountView.as_view(), name="account"),
    path("accounts/signup/", views.SignupView.as_view(), name="signup"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="shop/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="shop:home"), name="logout"),
]
