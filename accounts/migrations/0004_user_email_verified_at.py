from django.db import migrations, models
from django.db.models import F


def count_existing_users_as_verified(apps, schema_editor) -> None:
    # Accounts made before e-mail verification existed keep everything they could do.
    apps.get_model("accounts", "User").objects.update(email_verified_at=F("date_joined"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_account_welcome_email_sent_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(count_existing_users_as_verified, migrations.RunPython.noop),
    ]
