"""Shared test set-up: personas, API clients, an injected "now", the browser."""

import os
import shutil
from datetime import UTC, datetime

# Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads import roles
from leads.models import Team
from tests.smtp_helpers import smtp_server  # noqa: F401 - a fixture for every test module

# Before any real "now" the tests run at, so pages (which use the real clock) see it as past.
CURRENT_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PASSWORD = "correct-horse-battery"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _on_commit_capture(django_capture_on_commit_callbacks):
    """For tests.helpers.committed()."""
    from tests import helpers

    helpers._capture = django_capture_on_commit_callbacks


@pytest.fixture
def now():
    return CURRENT_TIME


def _user(django_user_model, username, group, **extra):
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, first_name=username.split("_")[-1].title(), **extra
    )
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def marketer(db, django_user_model):
    return _user(django_user_model, "marketer", roles.MARKETING)


@pytest.fixture
def rep_ann(db, django_user_model):
    return _user(django_user_model, "rep_ann", roles.SALES)


@pytest.fixture
def rep_bob(db, django_user_model):
    return _user(django_user_model, "rep_bob", roles.SALES)


@pytest.fixture
def manager(db, django_user_model, rep_ann):
    """Manages the team of which rep_ann (not rep_bob) is a member."""
    user = _user(django_user_model, "manager", roles.MANAGER)
    team = Team.objects.create(name="Inside Sales")
    team.managers.add(user)
    team.members.add(rep_ann)
    return user


@pytest.fixture
def api_as():
    """api_as(user) -> an APIClient authenticated with the user's DRF token."""

    def make(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


# --- Browser -------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    if shutil.which("chromium") or os.path.exists(CHROMIUM):
        return
    browser_tests = [item for item in items if "page" in getattr(item, "fixturenames", ())]
    if not browser_tests:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(
            "Chromium is missing and CI=true: browser tests may not skip (apt-get install chromium)"
        )
    skip = pytest.mark.skip(reason="chromium is not installed (make test installs it as root)")
    for item in browser_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ],
    }


@pytest.fixture
def screenshot_dir():
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "screenshots")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def eager_celery():
    """Run tasks in-process where no worker runs (page tests); the real worker path is
    tested in test_celery_worker.py."""
    from leadflow.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
