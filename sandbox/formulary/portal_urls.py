from django.urls import path

from sandbox.formulary import dashboard

urlpatterns = [path("", dashboard.formulary_api, name="formulary-api")]
