"""The CAS endpoints under /cas/ (login, logout, validate, serviceValidate, p3/...)."""

from django.urls import include, path

urlpatterns = [path("cas/", include("mama_cas.urls"))]
