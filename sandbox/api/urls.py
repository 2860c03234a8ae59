from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from sandbox.api import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("payers/", views.PayerListView.as_view(), name="api-payers"),
    path("payers/<slug:slug>/", views.PayerDetailView.as_view(), name="api-payer"),
    path("payers/<slug:slug>/tokens/", views.TokenView.as_view(), name="api-tokens"),
    path("payers/<slug:slug>/exchanges/", views.ExchangeListView.as_view(), name="api-exchanges"),
    path("payers/<slug:slug>/exchanges/<int:run_id>/", views.ExchangeDetailView.as_view(), name="api-exchange"),
    path("participants/", views.ParticipantView.as_view(), name="api-participants"),
]
