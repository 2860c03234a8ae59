"""Formulary kick-off URLs under /t/<slug>/fhir/ (listed in tenant_urls before the store's catch-all)."""

from django.urls import re_path

from sandbox.formulary.views import FormularyExportView

urlpatterns = [
    re_path(r"^InsurancePlan/\$export/?$", FormularyExportView.as_view(), name="formulary-export-all"),
    re_path(
        r"^InsurancePlan/(?P<plan_id>[A-Za-z0-9\-.]{1,64})/\$export/?$",
        FormularyExportView.as_view(),
        name="formulary-export-plan",
    ),
]
