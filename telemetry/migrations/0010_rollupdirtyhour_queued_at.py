import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0009_session_partials")]

    operations = [
        migrations.AddField(
            model_name="rollupdirtyhour",
            name="queued_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
    ]
