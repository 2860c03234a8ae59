from sandbox.oauth.views.discovery import authorization_server_metadata, smart_configuration
from sandbox.oauth.views.token import IntrospectView, RevokeView, TokenView

__all__ = ["IntrospectView", "RevokeView", "TokenView", "authorization_server_metadata", "smart_configuration"]
