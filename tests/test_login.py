"""Sign-in: brute force is throttled per account and per address."""

import pytest
from django.core.cache import cache

from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.delete_many(["login-fail:user:marketer", "login-fail:user:rep_ann",
                       "login-fail:ip:127.0.0.1"])  # fmt: skip
    yield
    cache.delete_many(["login-fail:user:marketer", "login-fail:user:rep_ann",
                       "login-fail:ip:127.0.0.1"])  # fmt: skip


def _sign_in(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, marketer, rep_ann):
    for _ in range(5):
        assert _sign_in(client, "marketer", "wrong").status_code == 200  # the form again
    refused = _sign_in(client, "marketer", PASSWORD)
    assert refused.status_code == 200
    assert "Too many failed sign-ins for this account" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Another account from the same address still signs in (the address limit is higher).
    assert _sign_in(client, "rep_ann", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_successful_sign_in_forgets_earlier_failures(client, marketer, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    _sign_in(client, "marketer", "wrong")
    _sign_in(client, "marketer", "wrong")
    assert _sign_in(client, "marketer", PASSWORD).status_code == 302
    client.logout()
    _sign_in(client, "marketer", "wrong")
    _sign_in(client, "marketer", "wrong")
    assert _sign_in(client, "marketer", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_too_many_failures_from_one_address_lock_it_out(client, marketer, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("a", "b", "c"):
        _sign_in(client, name, "wrong")
    refused = _sign_in(client, "marketer", PASSWORD).content.decode()
    assert "Too many failed sign-ins from your address" in refused
