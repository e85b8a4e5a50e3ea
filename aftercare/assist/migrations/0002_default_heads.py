from django.db import migrations

# Priority moves SLA deadlines and kind routes the ticket, so they need more certainty before
# they are applied unseen; sentiment and category only inform the agent.
DEFAULT_HEADS = {"kind": 0.85, "priority": 0.9, "sentiment": 0.6, "category": 0.8}


def create_heads(apps, schema_editor):
    TriageHead = apps.get_model("assist", "TriageHead")
    for name, threshold in DEFAULT_HEADS.items():
        TriageHead.objects.get_or_create(name=name, defaults={"threshold": threshold})


class Migration(migrations.Migration):
    dependencies = [("assist", "0001_initial")]

    operations = [migrations.RunPython(create_heads, migrations.RunPython.noop)]
