"""The Account admin: this month's usage, the reset action and the overrides."""

from datetime import date

import pytest
from django.urls import reverse

from accounts.models import Account, Plan, PlanCode, User
from accounts.tests.factories import AccountFactory, user_change_form
from apikeys.models import ApiKey
from apikeys.tests.factories import ApiKeyFactory
from usage.models import InFlightImage, MonthlyUsage, RequestRecord
from usage.tests.factories import InFlightImageFactory, MonthlyUsageFactory, RequestRecordFactory

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
    assert "Stripe charges its own price (STRIPE_PRICE_*): change both together." in change_page


def test_an_account_is_not_deleted_by_hand_but_goes_with_its_user(admin_client, pro_account):
    """A user left without its account got a 500 on every page of the site."""
    change = reverse("admin:accounts_account_change", args=[pro_account.pk])

    delete = reverse("admin:accounts_account_delete", args=[pro_account.pk])
    bulk_delete = {"action": "delete_selected", "_selected_action": [pro_account.pk], "post": "yes"}

    assert "deletelink" not in admin_client.get(change).content.decode()
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    admin_client.post(CHANGELIST_URL, bulk_delete)
    assert Account.objects.filter(pk=pro_account.pk).exists()

    admin_client.post(reverse("admin:accounts_user_delete", args=[pro_account.owner.pk]), {"post": "yes"})
    assert not Account.objects.filter(pk=pro_account.pk).exists()


@pytest.mark.parametrize("way", ["delete page", "bulk action"])
def test_a_customer_who_used_the_api_is_deleted_with_its_keys_usage_and_records(admin_client, pro_account, way):
    """Their admins refuse deleting them by hand, which made Django refuse to delete the user too."""
    api_key = ApiKeyFactory(account=pro_account)
    InFlightImageFactory(monthly_usage=MonthlyUsageFactory(account=pro_account, used=3))
    RequestRecordFactory(account=pro_account, api_key=api_key)
    user = pro_account.owner

    if way == "delete page":
        admin_client.post(reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"})
    else:
        bulk_delete = {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"}
        admin_client.post(reverse("admin:accounts_user_changelist"), bulk_delete)

    assert not User.objects.filter(pk=user.pk).exists()
    assert not (ApiKey.objects.exists() or MonthlyUsage.objects.exists() or RequestRecord.objects.exists())
    assert not InFlightImage.objects.exists()


def test_the_delete_page_counts_what_goes_with_the_user_without_listing_each_row(admin_client, pro_account):
    """Django lists every row: a user's 100,000 request records took 17 s and a 13 MB page."""
    records = RequestRecordFactory.create_batch(3, account=pro_account)
    ApiKeyFactory(account=pro_account)
    url = reverse("admin:accounts_user_delete", args=[pro_account.owner.pk])

    page = " ".join(admin_client.get(url).content.decode().split())

    assert f"User: {pro_account.owner}" in page
    assert "Request records: 3" in page
    assert "Api keys: 1" in page
    assert not any(str(record) in page for record in records)


@pytest.mark.parametrize(
    ("model", "factory"),
    [(ApiKey, ApiKeyFactory), (MonthlyUsage, MonthlyUsageFactory), (RequestRecord, RequestRecordFactory)],
)
def test_keys_usage_and_records_are_still_not_deleted_by_hand(admin_client, model, factory):
    row = factory()
    opts = model._meta
    change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    bulk_delete = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}

    assert "deletelink" not in admin_client.get(change).content.decode()
    assert (
        admin_client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])).status_code == 403
    )
    admin_client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), bulk_delete)
    assert model.objects.filter(pk=row.pk).exists()


def test_the_last_active_staff_member_keeps_the_admin(admin_client, admin_user):
    change = reverse("admin:accounts_user_change", args=[admin_user.pk])
    form = user_change_form(admin_user)

    for dropped in ("is_staff", "is_active"):
        answer = admin_client.post(change, {key: value for key, value in form.items() if key != dropped})
        assert "no active staff member would be left" in answer.content.decode()
    deleting = admin_client.get(reverse("admin:accounts_user_delete", args=[admin_user.pk])).content.decode()
    assert "Cannot delete user" in deleting and "no active staff member would be left" in deleting
    admin_user.refresh_from_db()
    assert admin_user.is_staff and admin_user.is_active

    second = AccountFactory(owner__email="second@example.com", owner__is_staff=True).owner
    both = {"action": "delete_selected", "_selected_action": [admin_user.pk, second.pk], "post": "yes"}
    refused = admin_client.post(reverse("admin:accounts_user_changelist"), both).content.decode()
    assert "Cannot delete user" in refused and "second@example.com: no active staff member" in refused
    assert User.objects.filter(is_staff=True).count() == 2
    not_staff = {key: value for key, value in form.items() if key != "is_staff"}
    assert admin_client.post(change, not_staff).status_code == 302
    admin_user.refresh_from_db()
    assert not admin_user.is_staff


def test_overrides_over_what_the_column_holds_are_refused_on_every_database(admin_client, pro_account):
    change = reverse("admin:accounts_account_change", args=[pro_account.pk])
    form = {"plan": pro_account.plan.pk, "stripe_customer_id": "", "rate_limit_override": ""}

    answer = admin_client.post(change, {**form, "monthly_limit_override": str(2**31)})

    assert "Ensure this value is less than or equal to 2147483647." in answer.content.decode()
    assert admin_client.post(change, {**form, "monthly_limit_override": str(2**31 - 1)}).status_code == 302
    pro_account.refresh_from_db()
    assert pro_account.monthly_limit_override == 2**31 - 1


def test_a_stripe_customer_id_another_account_has_is_refused_in_a_sentence(admin_client, pro_account):
    """Django's own message named only the constraint: 'Constraint "account_unique_stripe_customer" is violated.'"""
    AccountFactory(stripe_customer_id="cus_taken")
    change = reverse("admin:accounts_account_change", args=[pro_account.pk])
    form = {"plan": pro_account.plan.pk, "monthly_limit_override": "", "rate_limit_override": ""}

    answer = admin_client.post(change, {**form, "stripe_customer_id": "cus_taken"})

    assert answer.status_code == 200
    assert "Another account is already linked to this Stripe customer id." in answer.content.decode()
    pro_account.refresh_from_db()
    assert pro_account.stripe_customer_id != "cus_taken"


def test_a_rate_limit_override_of_zero_is_refused_an_images_one_is_not(admin_client, pro_account):
    """0 requests a minute refused every request with a Retry-After that never helped; 0 images a
    month refuses until the next month, and says so."""
    change = reverse("admin:accounts_account_change", args=[pro_account.pk])
    form = {"plan": pro_account.plan.pk, "stripe_customer_id": "", "monthly_limit_override": "0"}

    answer = admin_client.post(change, {**form, "rate_limit_override": "0"})

    assert "Ensure this value is greater than or equal to 1." in answer.content.decode()
    pro_account.refresh_from_db()
    assert (pro_account.monthly_limit_override, pro_account.rate_limit_override) == (None, None)
    assert admin_client.post(change, {**form, "rate_limit_override": "1"}).status_code == 302
    pro_account.refresh_from_db()
    assert (pro_account.monthly_limit_override, pro_account.rate_limit_override) == (0, 1)


def test_a_plans_rate_limit_of_zero_is_refused_its_images_limit_of_zero_is_not(admin_client):
    pro = Plan.objects.get(code=PlanCode.PRO)
    change = reverse("admin:accounts_plan_change", args=[pro.pk])
    form = {
        "code": pro.code,
        "name": pro.name,
        "price_cents": pro.price_cents,
        "api_access": "on",
        "monthly_limit": "0",
    }

    answer = admin_client.post(change, {**form, "rate_limit_per_minute": "0"})

    assert "Ensure this value is greater than or equal to 1." in answer.content.decode()
    pro.refresh_from_db()
    assert (pro.monthly_limit, pro.rate_limit_per_minute) == (10_000, 60)
    assert admin_client.post(change, {**form, "rate_limit_per_minute": "1"}).status_code == 302
    pro.refresh_from_db()
    assert (pro.monthly_limit, pro.rate_limit_per_minute) == (0, 1)
