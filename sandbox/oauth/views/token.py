"""
Token, introspection and revocation endpoints: django-oauth-toolkit's views, each answering
with RFC 6749 / 7662 / 7009 JSON, plus what DOT does not do: `cnf` in introspection (RFC 8705).
"""

import json

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views

from sandbox.oauth.bearer import find_access_token


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(dot_views.TokenView):
    def post(self, request, *args, **kwargs):
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(
                400,
                "invalid_request",
                "The token endpoint takes application/x-www-form-urlencoded parameters (RFC 6749 §4.4.2).",
            )
        return super().post(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class RevokeView(dot_views.RevokeTokenView):
    pass


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(dot_views.IntrospectTokenView):
    """RFC 7662; a token of another tenant is simply inactive here (the model is tenant-scoped)."""

    @staticmethod
    def get_token_response(token_value=None):
        response = dot_views.IntrospectTokenView.get_token_response(token_value)
        body = json.loads(response.content)
        if body.get("active"):
            token = find_access_token(token_value)
            if token is not None and token.cnf_x5t_s256:
                body["cnf"] = {"x5t#S256": token.cnf_x5t_s256}
                response.content = json.dumps(body)
        return response


def _error(status, error, description):
    from django.http import JsonResponse

    return JsonResponse({"error": error, "error_description": description}, status=status)
