from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "sandbox.oauth"
    label = "oauth"
    verbose_name = "OAuth 2.0"
