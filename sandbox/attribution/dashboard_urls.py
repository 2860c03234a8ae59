"""Dashboard pages under /payers/<slug>/attribution/ (members of the payer only)."""

from django.urls import path

from sandbox.attribution import dashboard

urlpatterns = [
    path("", dashboard.attribution_overview, name="attribution-overview"),
    path("settings/", dashboard.update_settings, name="attribution-settings"),
    path("clients/", dashboard.link_client, name="attribution-client-link"),
    path("clients/<int:link_id>/remove/", dashboard.unlink_client, name="attribution-client-unlink"),
    path("opt-outs/", dashboard.record_opt_out, name="attribution-opt-out"),
    path("providers/<str:npi>/", dashboard.provider_view, name="attribution-provider"),
]
