"""
Authorization code with PKCE for provider staff (SMART App Launch, standalone; RFC 7636 S256).

Only users invited to this payer as provider users (ProviderUser) may approve a request: the
authorization server of one simulated payer knows nothing of another's staff. Sign-in happens
on the payer's own login page, under /t/<slug>/oauth/login.
"""

from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.urls import reverse
from oauth2_provider import views as dot_views

from sandbox.oauth.models import ProviderUser


class ProviderAuthorizationView(dot_views.AuthorizationView):
    template_name = "oauth2_provider/authorize.html"

    def get_login_url(self):
        return reverse("oauth2_provider:login")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not ProviderUser.objects.filter(user=request.user).exists():
            return render(
                request,
                "oauth/not_a_provider_user.html",
                {"tenant": request.tenant, "login_url": self.get_login_url() + "?next=" + request.get_full_path()},
                status=403,
            )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tenant"] = self.request.tenant
        context["provider_user"] = ProviderUser.objects.filter(user=self.request.user).first()
        return context


class TenantLoginView(auth_views.LoginView):
    template_name = "oauth/login.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "tenant": self.request.tenant}


class TenantLogoutView(auth_views.LogoutView):
    def get_success_url(self):
        return reverse("oauth2_provider:login") + "?next=" + self.request.POST.get("next", "")
