from django.db import migrations


class Migration(migrations.Migration):
    """The old counter of images in flight leaves the model but not the database: the previous
    release's processes, still serving while a deploy rolls, select its columns (the database fills
    them in: `in_flight` has a default, `in_flight_until` is nullable). The next release drops them."""

    dependencies = [
        ("usage", "0003_in_flight_ledger"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="monthlyusage", name="in_flight"),
                migrations.RemoveField(model_name="monthlyusage", name="in_flight_until"),
            ],
        ),
    ]
