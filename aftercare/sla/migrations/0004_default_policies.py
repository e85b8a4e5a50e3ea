"""Default tiers: urgent first response 2 h round the clock; regular first response 12
business hours; complex resolution 48 business hours; every tier also has a resolution and a
next-response target. Escalation: L1 team lead at breach, L2 service manager +2 business hours,
L3 director +8. All editable by admins."""

from django.db import migrations

# name, priority, [(metric, minutes, calendar)]
POLICIES = [
    ("紧急", "urgent", [("first_response", 120, "24x7"), ("next_response", 120, "24x7"),
                        ("resolution", 24 * 60, "24x7")]),
    ("常规", "regular", [("first_response", 12 * 60, "cn-workday"),
                         ("next_response", 12 * 60, "cn-workday"),
                         ("resolution", 5 * 9 * 60, "cn-workday")]),
    ("复杂", "complex", [("first_response", 12 * 60, "cn-workday"),
                         ("next_response", 12 * 60, "cn-workday"),
                         ("resolution", 48 * 60, "cn-workday")]),
]
LEVELS = [(1, 0, "team_lead"), (2, 120, "service_manager"), (3, 480, "director")]


def forward(apps, schema_editor):
    policy_model = apps.get_model("sla", "SlaPolicy")
    target_model = apps.get_model("sla", "SlaTarget")
    calendar_model = apps.get_model("sla", "BusinessCalendar")
    level_model = apps.get_model("sla", "EscalationLevel")
    calendars = {c.slug: c for c in calendar_model.objects.all()}
    for position, (name, priority, targets) in enumerate(POLICIES, start=1):
        policy, created = policy_model.objects.get_or_create(
            name=name, defaults={"position": position * 10, "priorities": [priority]}
        )
        if created:
            for metric, minutes, slug in targets:
                target_model.objects.create(policy=policy, metric=metric, minutes=minutes,
                                            calendar=calendars[slug])
    for level, after, role in LEVELS:
        level_model.objects.get_or_create(level=level,
                                          defaults={"after_minutes": after, "notify_role": role})


def backward(apps, schema_editor):
    apps.get_model("sla", "SlaPolicy").objects.filter(name__in=[p[0] for p in POLICIES]).delete()
    apps.get_model("sla", "EscalationLevel").objects.filter(level__in=[1, 2, 3]).delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0003_escalationlevel_slapolicy_slaclock_slatarget")]
    operations = [migrations.RunPython(forward, backward)]
