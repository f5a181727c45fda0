from django.db import migrations

# SPEC §3. Free has no API access; its allowance is spent through the web "try it" page.
PLANS = [
    {"code": "free", "name": "Free", "price_cents": 0, "monthly_limit": 50, "rate_limit_per_minute": 10, "api_access": False},
    {"code": "pro", "name": "Pro", "price_cents": 4900, "monthly_limit": 10_000, "rate_limit_per_minute": 60, "api_access": True},
    {"code": "agency", "name": "Agency", "price_cents": 14900, "monthly_limit": None, "rate_limit_per_minute": 120, "api_access": True},
]


def seed_plans(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(seed_plans, migrations.RunPython.noop)]
