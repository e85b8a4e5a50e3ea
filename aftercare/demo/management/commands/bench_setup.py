"""Prepare a database for the intake benchmark and print one bearer token for an agent."""

from django.core.management.base import BaseCommand

from aftercare.accounts.choices import Department, Role
from aftercare.accounts.models import ApiToken, Team, TeamMembership, User
from aftercare.accounts.services import create_api_token
from aftercare.demo.seed import seed_demo


class Command(BaseCommand):
    help = "Seed reference data (no tickets) and print a fresh API token of the bench agent."

    def handle(self, *args, **options):
        seed_demo(tickets=0)
        team, _ = Team.objects.get_or_create(
            slug="cs-1",
            defaults={"name": "售后客服一组", "department": Department.CUSTOMER_SERVICE},
        )
        user, created = User.objects.get_or_create(
            username="bench-agent", defaults={"role": Role.AGENT, "display_name": "Bench"}
        )
        if created:
            TeamMembership.objects.create(team=team, user=user)
        ApiToken.objects.filter(user=user, name="bench").delete()
        _, raw = create_api_token(user=user, name="bench")
        self.stdout.write(raw)
