from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone


def record_this_months_e_mails_as_sent_for_the_limit_in_force(apps, schema_editor):
    """This month's e-mails already sent count as sent for the limit in force, so that none of them
    goes out again. Earlier months' are never sent again: their limit is left unknown. (One that the
    previous release sends while a deploy rolls records no limit, and may go out once more.)"""
    account_model = apps.get_model("accounts", "Account")
    monthly_usage = apps.get_model("usage", "MonthlyUsage")
    limit_in_force = Subquery(
        account_model.objects.filter(pk=OuterRef("account_id"))
        .annotate(limit=Coalesce("monthly_limit_override", "plan__monthly_limit"))
        .values("limit")
    )
    this_month = monthly_usage.objects.filter(month=timezone.now().date().replace(day=1))
    this_month.filter(warning_sent_at__isnull=False).update(warning_sent_limit=limit_in_force)
    this_month.filter(limit_reached_sent_at__isnull=False).update(limit_reached_sent_limit=limit_in_force)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_stripe_customer_taken_message"),
        ("usage", "0004_in_flight_columns_out_of_the_model"),
    ]

    operations = [
        migrations.AddField(
            model_name="monthlyusage",
            name="warning_sent_limit",
            field=models.PositiveIntegerField(
                blank=True, help_text="The monthly limit the 80 % e-mail was sent for.", null=True
            ),
        ),
        migrations.AddField(
            model_name="monthlyusage",
            name="limit_reached_sent_limit",
            field=models.PositiveIntegerField(
                blank=True, help_text="The monthly limit the 100 % e-mail was sent for.", null=True
            ),
        ),
        migrations.RunPython(
            record_this_months_e_mails_as_sent_for_the_limit_in_force, migrations.RunPython.noop, elidable=True
        ),
    ]
