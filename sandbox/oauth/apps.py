from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "sandbox.oauth"
    label = "oauth"
    verbose_name = "OAuth 2.0"

    def ready(self):
        from sandbox.oauth.bearer import RequestTokenLookup
        from tenants import row_lookup

        # The bearer token is looked up in the same round trip as the payer of the request.
        row_lookup.register_request_lookup(RequestTokenLookup())
