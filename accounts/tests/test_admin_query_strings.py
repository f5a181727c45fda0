"""Query strings staff can craft, that Django's admin answered with a 500: each model's list and
pages answer them as Django answers other bad ones."""

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from accounts.admin_site import CheckedQueryStrings
from accounts.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _list_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# Every model's list with a date field, and those with a date hierarchy (drill-down by year, month, day).
LISTS_WITH_A_DATE = [
    (_list_url(model), field.name)
    for model in admin.site._registry
    for field in model._meta.get_fields()
    if isinstance(field, models.DateField)
]
DATE_HIERARCHIES = [
    (_list_url(model), model_admin.date_hierarchy)
    for model, model_admin in admin.site._registry.items()
    if model_admin.date_hierarchy
]


def test_every_registered_admin_checks_the_query_strings():
    unchecked = [
        model for model, model_admin in admin.site._registry.items() if not isinstance(model_admin, CheckedQueryStrings)
    ]

    assert not unchecked


def _assert_refused_as_bad_filters_are(response) -> None:
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize(("url", "field"), LISTS_WITH_A_DATE, ids=lambda value: value)
@pytest.mark.parametrize("year", ["-1", "0", "99999"])
def test_a_year_out_of_range_in_a_list_s_filter_is_refused(admin_client, url, field, year):
    _assert_refused_as_bad_filters_are(admin_client.get(url, {f"{field}__year": year}))


@pytest.mark.parametrize(("url", "field"), DATE_HIERARCHIES, ids=lambda value: value)
@pytest.mark.parametrize(
    "end", [{"year": "9999"}, {"year": "9999", "month": "12"}, {"year": "9999", "month": "12", "day": "31"}]
)
def test_the_end_of_year_9999_in_a_date_hierarchy_is_refused(admin_client, url, field, end):
    _assert_refused_as_bad_filters_are(
        admin_client.get(url, {f"{field}__{part}": value for part, value in end.items()})
    )


@pytest.mark.parametrize("page", ["change", "delete"])
def test_an_empty_to_field_is_the_primary_key(admin_client, page):
    user = AccountFactory(pro=True, owner__email="someone@example.com").owner

    response = admin_client.get(reverse(f"admin:accounts_user_{page}", args=[user.pk]), {"_to_field": ""})

    assert response.status_code == 200
    assert "someone@example.com" in response.content.decode()
