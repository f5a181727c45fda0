"""The Account admin: this month's usage, the reset action and the overrides."""

from datetime import date

import pytest
from django.urls import reverse

from accounts.models import Plan, PlanCode
from accounts.tests.factories import AccountFactory
from usage.models import MonthlyUsage
from usage.tests.factories import MonthlyUsageFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:accounts_account_changelist")


def test_the_list_shows_each_accounts_usage_this_month_without_a_query_per_account(
    admin_client, django_assert_max_num_queries
):
    busy = AccountFactory(pro=True, owner__email="busy@example.com")
    MonthlyUsageFactory(account=busy, used=4_321)
    MonthlyUsageFactory(account=busy, month=date(2000, 1, 1), used=99)
    AccountFactory(agency=True, owner__email="agency@example.com")

    admin_client.get(CHANGELIST_URL)  # warm up what the admin loads once (sessions, content types)
    with django_assert_max_num_queries(8) as queries:
        body = admin_client.get(CHANGELIST_URL).content.decode()
    AccountFactory.create_batch(5, pro=True)
    with django_assert_max_num_queries(len(queries)):
        admin_client.get(CHANGELIST_URL)

    assert "4,321 of 10,000 images · <a" in body
    assert "0 images, no limit" in body
    assert f"{reverse('admin:usage_requestrecord_changelist')}?account={busy.pk}" in body


def test_the_change_page_shows_the_usage_and_edits_the_overrides(admin_client, pro_account):
    MonthlyUsageFactory(account=pro_account, used=12)
    url = reverse("admin:accounts_account_change", args=[pro_account.pk])

    assert "12 of 10,000 images" in admin_client.get(url).content.decode()

    response = admin_client.post(
        url, {"plan": pro_account.plan.pk, "monthly_limit_override": "50000", "rate_limit_override": "300"}
    )

    assert response.status_code == 302
    pro_account.refresh_from_db()
    assert (pro_account.monthly_limit_override, pro_account.rate_limit_override) == (50_000, 300)


def test_staff_reset_this_months_count_with_an_action(admin_client):
    reset, untouched = AccountFactory(pro=True), AccountFactory(pro=True)
    MonthlyUsageFactory(account=reset, used=10_000)
    MonthlyUsageFactory(account=reset, month=date(2000, 1, 1), used=7)
    MonthlyUsageFactory(account=untouched, used=5)

    response = admin_client.post(
        CHANGELIST_URL, {"action": "reset_month_usage", "_selected_action": [reset.pk]}, follow=True
    )

    assert "Reset this month&#x27;s count of 1 account(s)." in response.content.decode()
    assert MonthlyUsage.objects.exclude(month=date(2000, 1, 1)).get(account=reset).used == 0
    assert MonthlyUsage.objects.get(account=reset, month=date(2000, 1, 1)).used == 7
    assert MonthlyUsage.objects.get(account=untouched).used == 5


def test_the_list_shows_the_overrides_in_one_column(admin_client):
    AccountFactory(pro=True, monthly_limit_override=50_000, rate_limit_override=300)
    AccountFactory(pro=True, rate_limit_override=5)

    body = admin_client.get(CHANGELIST_URL).content.decode()

    assert "50,000 images a month, 300 requests a minute" in body
    assert ">5 requests a minute<" in body
    assert "Monthly limit override" not in body and "Rate limit override" not in body


def test_the_admin_names_smolpix_and_its_sections_readably(admin_client):
    body = admin_client.get(reverse("admin:index")).content.decode()

    assert "<title>Site administration | Smolpix administration</title>" in body
    assert "Smolpix administration</a></div>" in body or ">Smolpix administration<" in body
    assert "Django administration" not in body
    sections = ("API keys", "Accounts", "Billing", "Usage", "Sign-in attempts")
    sections += ("Second factor: authenticator apps", "Second factor: backup codes")
    for section in sections:
        assert f'title="Models in the {section} application">{section}</a>' in body
    for raw_name in ("Apikeys", "Axes", "Otp_Totp", "Otp_Static"):
        assert raw_name not in body


def test_plans_are_not_edited_in_the_list_and_their_page_says_whom_a_change_reaches(admin_client):
    pro = Plan.objects.get(code=PlanCode.PRO)
    AccountFactory.create_batch(2, pro=True)
    AccountFactory()

    changelist = admin_client.get(reverse("admin:accounts_plan_changelist")).content.decode()
    change_page = admin_client.get(reverse("admin:accounts_plan_change", args=[pro.pk])).content.decode()

    assert 'name="form-0-monthly_limit"' not in changelist  # no inline editing
    assert "$49.00 a month" in changelist
    assert "Saving changes the limits of every account on the Pro plan at once: 2 accounts" in change_page
