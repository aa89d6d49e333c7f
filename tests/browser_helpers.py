"""Browser-test helpers: sign a persona in without the login form."""

from django.conf import settings
from django.test import Client


def sign_in(page, live_server, user) -> None:
    """Give the browser `user`'s session (the login page itself is tested elsewhere)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
