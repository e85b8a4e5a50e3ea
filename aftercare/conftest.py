"""Personas shared by every app's tests (after healthchecks' Alice/Bob/Charlie):

alice, bob ........ customers (two different customer records)
agnes ............. customer-service agent in team A (售后客服一组)
bert .............. support engineer in team B (技术支持组)
lena .............. team lead of team A
ada ............... admin
anna, quinn ....... analyst, QC inspector
"""

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from huey.contrib.djhuey import HUEY

from aftercare.accounts.choices import Department, Role
from aftercare.accounts.models import Team, TeamMembership, User
from aftercare.accounts.services import create_api_token
from aftercare.catalog.models import Product, ProductLine, ProductUnit
from aftercare.customers.models import Contact, Customer
from aftercare.sla.engine import forget_rules

PASSWORD = "Aftercare-Test-2026"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings, tmp_path):
    HUEY.immediate = True
    # Each test has its own database state; rules cached by an earlier test do not apply.
    forget_rules()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.LANGUAGE_CODE = "zh-hans"
    mail.outbox = []
    yield


def make_customer(name: str, mobile: str, email: str) -> Customer:
    customer = Customer.objects.create(name=name)
    Contact.objects.create(
        customer=customer, name=name, mobile=mobile, email=email, is_primary=True
    )
    return customer


def make_user(username: str, role: str, *, customer=None, teams=(), lead=False) -> User:
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        role=role,
        customer=customer,
        display_name=username.capitalize(),
        email=f"{username}@example.com",
    )
    for team in teams:
        TeamMembership.objects.create(team=team, user=user, is_lead=lead)
    return user


class Personas:
    def __init__(self):
        self.team_a = Team.objects.create(
            name="售后客服一组", slug="cs-1", department=Department.CUSTOMER_SERVICE
        )
        self.team_b = Team.objects.create(
            name="技术支持组", slug="tech", department=Department.TECH_SUPPORT
        )
        self.alice_customer = make_customer("王丽", "13800000001", "alice@example.com")
        self.bob_customer = make_customer("李波", "13800000002", "bob@example.com")
        self.alice = make_user("alice", Role.CUSTOMER, customer=self.alice_customer)
        self.bob = make_user("bob", Role.CUSTOMER, customer=self.bob_customer)
        self.agnes = make_user("agnes", Role.AGENT, teams=[self.team_a])
        self.bert = make_user("bert", Role.SUPPORT_ENGINEER, teams=[self.team_b])
        self.lena = make_user("lena", Role.TEAM_LEAD, teams=[self.team_a], lead=True)
        self.ada = make_user("ada", Role.ADMIN)
        self.anna = make_user("anna", Role.ANALYST)
        self.quinn = make_user("quinn", Role.QC_INSPECTOR)
        line = ProductLine.objects.create(name="空调", slug="ac")
        self.product = Product.objects.create(
            line=line, model_number="KFR-35GW", name="挂壁式空调", category="空调"
        )
        self.alice_unit = ProductUnit.objects.create(
            serial="AC35GW0001",
            product=self.product,
            owner=self.alice_customer,
            purchase_date=dt.date(2026, 11, 18),
        )
        self.bob_unit = ProductUnit.objects.create(
            serial="AC35GW0002",
            product=self.product,
            owner=self.bob_customer,
            purchase_date=dt.date(2025, 6, 1),
        )


@pytest.fixture
def personas(db) -> Personas:
    return Personas()


class ApiClient:
    """Test client speaking to /api/v1 with a bearer token, as an integration would."""

    def __init__(self, user: User | None, language: str = "zh-hans"):
        self.client = Client(HTTP_ACCEPT_LANGUAGE=language)
        self.headers = {}
        if user is not None:
            _, raw = create_api_token(user=user, name="tests")
            self.headers["Authorization"] = f"Bearer {raw}"

    def _call(self, method: str, path: str, data=None, headers=None, **kwargs):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        call = getattr(self.client, method)
        merged = {**self.headers, **(headers or {})}
        if method in ("post", "patch", "put") and "files" not in kwargs:
            return call(
                url,
                data=data if data is not None else {},
                content_type="application/json",
                headers=merged,
            )
        if "files" in kwargs:
            return call(url, data={**(data or {}), **kwargs["files"]}, headers=merged)
        return call(url, data=data, headers=merged)

    def get(self, path, data=None, **kw):
        return self._call("get", path, data, **kw)

    def post(self, path, data=None, **kw):
        return self._call("post", path, data, **kw)

    def patch(self, path, data=None, **kw):
        return self._call("patch", path, data, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


@pytest.fixture
def api():
    return ApiClient


def _commits_for_real(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is None:
        return False
    return bool(marker.kwargs.get("transaction") or (marker.args and marker.args[0]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A test that really commits ends by emptying every table, rows made by data migrations
    (calendars, holidays, SLA policies, default heads) included. Put those back right away, so
    the tests that run after it — in whatever order pytest or xdist chose — find them."""
    yield
    if nextitem is None or not _commits_for_real(item):
        return  # after the last test the test database is gone already
    from django.db import connections
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        for connection in connections.all(initialized_only=True):
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents:
                connection.creation.deserialize_db_from_string(contents)
