import pytest
from django.urls import reverse

from accounts.models import Plan, PlanCode
from accounts.tests.factories import AccountFactory
from billing.models import BillingEmail
from billing.tests.factories import StripeEventFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["subscription", "stripeevent", "billingemail"])
def test_staff_see_the_billing_lists(admin_client, model):
    subscription = SubscriptionFactory()
    StripeEventFactory(error="StripeUnavailable: boom")
    BillingEmail.objects.create(account=subscription.account, kind=BillingEmail.Kind.PLAN_CHANGED)

    response = admin_client.get(reverse(f"admin:billing_{model}_changelist"))

    assert response.status_code == 200


def test_the_events_list_shows_type_times_and_error(admin_client):
    StripeEventFactory(type="invoice.payment_failed", error="StripeUnavailable: Stripe is down")

    body = admin_client.get(reverse("admin:billing_stripeevent_changelist")).content.decode()

    assert "invoice.payment_failed" in body
    assert "StripeUnavailable: Stripe is down" in body
    assert "Re-process the selected events" in body


def test_stripe_mirrors_cannot_be_edited_in_the_admin(admin_client):
    subscription = SubscriptionFactory()

    response = admin_client.post(
        reverse("admin:billing_subscription_change", args=[subscription.pk]), {"status": "active"}
    )

    assert response.status_code == 403
    assert admin_client.get(reverse("admin:billing_subscription_add")).status_code == 403


def test_the_reprocess_action_applies_a_failed_event_once_its_cause_is_fixed(
    admin_client, fake_stripe, settings, django_capture_on_commit_callbacks
):
    account = AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price="price_agency_new")
    payload = fake_stripe.event("customer.subscription.created", held)
    event = StripeEventFactory(
        stripe_id=payload["id"], type=payload["type"], payload=payload, error="ValueError: Price 'price_agency_new'..."
    )
    settings.STRIPE_PRICE_AGENCY = "price_agency_new"  # the operator fixes the configuration

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:billing_stripeevent_changelist"),
            {"action": "reprocess", "_selected_action": [event.pk]},
            follow=True,
        )

    assert "1 event(s) handed over for processing again." in response.content.decode()
    event.refresh_from_db()
    assert (event.processed_at is not None, event.error) == (True, "")
    account.refresh_from_db()
    assert account.plan.code == PlanCode.AGENCY


# Committed for real: Django runs robust on_commit hooks itself (the capturing fixture ignores robust).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_that_fails_again_is_recorded_and_the_admin_answers(admin_client, fake_stripe):
    # Without a worker (make run) the event is applied in the admin's request: it used to answer 500.
    AccountFactory(stripe_customer_id="cus_linked")
    held = fake_stripe.subscription_put(customer="cus_linked", price="price_unknown")
    payload = fake_stripe.event("customer.subscription.created", held)
    event = StripeEventFactory(stripe_id=payload["id"], type=payload["type"], payload=payload, error="")

    response = admin_client.post(
        reverse("admin:billing_stripeevent_changelist"),
        {"action": "reprocess", "_selected_action": [event.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 event(s) handed over for processing again." in response.content.decode()
    event.refresh_from_db()
    assert event.processed_at is None
    assert "price_unknown" in event.error


def test_customers_do_not_get_into_the_admin(client, free_account):
    client.force_login(free_account.owner)

    response = client.get(reverse("admin:billing_stripeevent_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_without_stripe_staff_still_set_plans_in_the_admin(admin_client, free_account):
    response = admin_client.post(
        reverse("admin:accounts_account_change", args=[free_account.pk]),
        {"plan": Plan.objects.get(code=PlanCode.AGENCY).pk, "stripe_customer_id": ""},
    )

    assert response.status_code == 302
    free_account.refresh_from_db()
    assert free_account.plan.code == PlanCode.AGENCY


@pytest.mark.parametrize("model", ["subscription", "stripeevent", "billingemail"])
def test_stripe_mirrors_and_events_are_not_deleted_by_hand(admin_client, model):
    """A deleted subscription row let its customer buy a second, double-billed subscription."""
    subscription = SubscriptionFactory()
    rows = {
        "subscription": subscription,
        "stripeevent": StripeEventFactory(),
        "billingemail": BillingEmail.objects.create(account=subscription.account, kind=BillingEmail.Kind.PLAN_CHANGED),
    }
    row = rows[model]

    page = admin_client.get(reverse(f"admin:billing_{model}_change", args=[row.pk])).content.decode()
    listed = admin_client.get(reverse(f"admin:billing_{model}_changelist")).content.decode()
    response = admin_client.post(reverse(f"admin:billing_{model}_delete", args=[row.pk]), {"post": "yes"})
    admin_client.post(
        reverse(f"admin:billing_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert "deletelink" not in page and "delete_selected" not in listed
    assert response.status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("status", ["active", "past_due", "paused"])
def test_a_user_stripe_may_still_bill_is_not_deleted_until_the_subscription_is_canceled(admin_client, status):
    """Deleting a paying customer's user left Stripe charging someone we no longer have."""
    subscription = SubscriptionFactory(status=status)
    user = subscription.account.owner
    delete = reverse("admin:accounts_user_delete", args=[user.pk])

    refused = admin_client.get(delete).content.decode()
    admin_client.post(delete, {"post": "yes"})
    assert "Cannot delete user" in refused and f"a subscription Stripe may still bill ({status})" in refused
    assert type(user).objects.filter(pk=user.pk).exists()

    subscription.status = "canceled"
    subscription.save()
    admin_client.post(delete, {"post": "yes"})
    assert not type(user).objects.filter(pk=user.pk).exists()
