from django.urls import path

from api.optimize import OptimizeApi
from api.usage import UsageApi

urlpatterns = [
    path("usage", UsageApi.as_view(), name="api-usage"),
    path("optimize", OptimizeApi.as_view(), name="api-optimize"),
]
