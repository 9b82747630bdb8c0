"""Raw sessions and crashes: event_id dedupe moves to key tables; on PostgreSQL the raw tables become partitioned
by UTC day of their corrected time (docs/partitioning.md).

A fresh (empty) PostgreSQL table is rebuilt partitioned right here, with a default partition. A table that already
holds rows is left as it is, unique event_id index and all (ingest works against either layout): convert it online
with `manage.py partition_raw_tables`. SQLite keeps plain tables; its stored event_ids are copied into the key
tables before the unique index goes. Self-contained SQL: migrations import no project code.
"""

import logging

from django.db import migrations, models

logger = logging.getLogger(__name__)

RAW = (  # (model name, table, partition column, key table)
    ("inferencesession", "telemetry_inferencesession", "started_at", "telemetry_sessioneventkey"),
    ("crashreport", "telemetry_crashreport", "occurred_at", "telemetry_crasheventkey"),
)


def _partition_empty(cursor, table, column):
    """Rebuilds an empty plain table as a partitioned one: same columns, defaults, checks, identity, indexes (but the
    unique event_id one) and outgoing foreign keys; primary key (id, column); one default partition."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = cursor.fetchall()
    new = f"{table}_partitioned"
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE) PARTITION BY RANGE ({column})"
    )
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
    cursor.execute(f"ALTER SEQUENCE IF EXISTS {new}_id_seq RENAME TO {table}_id_seq")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, {column})")
    for _name, definition in indexes:
        cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def raw_tables_partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        for model_name, table, column, keys in RAW:
            # Every stored event keeps its dedupe once the unique index goes.
            schema_editor.execute(
                f"INSERT INTO {keys} (event_id, day) SELECT event_id, date({column}) FROM {table} WHERE true "
                f"ON CONFLICT (event_id) DO NOTHING"
            )
            model = apps.get_model("telemetry", model_name)
            old = model._meta.get_field("event_id")
            new = models.UUIDField()
            new.set_attributes_from_name("event_id")
            new.model = model
            schema_editor.alter_field(model, old, new)
        return
    with connection.cursor() as cursor:
        for _model_name, table, column, keys in RAW:
            # The key tables are pruned by day, a chunk at a time: a BRIN index serves that at almost no load cost.
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {keys}_day_brin ON {keys} USING brin (day)")
            cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table])
            if cursor.fetchone():
                continue
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
            if cursor.fetchone()[0]:
                logger.warning("%s holds rows: left unpartitioned; run manage.py partition_raw_tables", table)
                continue
            _partition_empty(cursor, table, column)


class Migration(migrations.Migration):

    dependencies = [
        ("telemetry", "0013_session_energy_per_inference"),
    ]

    operations = [
        migrations.CreateModel(
            name="SessionEventKey",
            fields=[
                ("event_id", models.UUIDField(primary_key=True, serialize=False)),
                ("day", models.DateField(help_text="UTC day of the row's started_at; keys are pruned with their partition")),
            ],
        ),
        migrations.CreateModel(
            name="CrashEventKey",
            fields=[
                ("event_id", models.UUIDField(primary_key=True, serialize=False)),
                ("day", models.DateField(help_text="UTC day of the row's occurred_at; keys are pruned with their partition")),
            ],
        ),
        migrations.CreateModel(
            name="RawTableCopy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("table", models.CharField(max_length=63, unique=True)),
                ("copied_up_to_id", models.BigIntegerField(default=0, help_text="Rows with id ≤ this are in the partitioned table")),
                ("rows_copied", models.BigIntegerField(default=0)),
                ("status", models.CharField(choices=[("copying", "Copying rows into the partitioned table"), ("swapped", "Partitioned table swapped in"), ("failed", "Failed (resumable)")], default="copying", max_length=8)),
                ("started_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
            ],
        ),
        # A foreign key into a partitioned table would need its partition key: the link is kept without one.
        migrations.AlterField(
            model_name="crashreport",
            name="inference_session",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=models.deletion.SET_NULL, related_name="crashes", to="telemetry.inferencesession"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="inferencesession", name="event_id", field=models.UUIDField()),
                migrations.AlterField(model_name="crashreport", name="event_id", field=models.UUIDField()),
            ],
            database_operations=[migrations.RunPython(raw_tables_partition, elidable=False)],
        ),
    ]
