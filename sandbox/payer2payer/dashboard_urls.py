"""Dashboard pages under /payers/<slug>/exchange/."""

from django.urls import path

from sandbox.payer2payer import dashboard

urlpatterns = [
    path("", dashboard.exchange_page, name="p2p-exchange"),
    path("start/", dashboard.start, name="p2p-exchange-start"),
    path("settings/", dashboard.save_settings, name="p2p-settings"),
    path("runs/<int:run_id>/", dashboard.run_detail, name="p2p-run"),
]
