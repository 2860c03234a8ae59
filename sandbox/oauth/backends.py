"""django-oauth-toolkit's OAuthLib backend (OAUTH2_BACKEND_CLASS), adapted to the sandbox."""

from oauth2_provider.oauth2_backends import OAuthLibCore


class SandboxOAuthLibCore(OAuthLibCore):
    def extract_headers(self, request):
        """DOT hands oauthlib a copy of request.META, which oauthlib decodes as text. The mTLS
        middleware keeps the certificate's DER bytes and gunicorn its socket there, so pass on
        only the text values (the verified thumbprint, `mtls.x5t_s256`, is one of them)."""
        headers = super().extract_headers(request)
        return {name: value for name, value in headers.items() if isinstance(value, str)}
