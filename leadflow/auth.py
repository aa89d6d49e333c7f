"""Sign-in with brute-force protection: failed attempts are counted per account and per
address in Redis (the Django cache), so the limit holds across every web process."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


def _keys(request, username: str) -> tuple[str, str]:
    address = request.META.get("REMOTE_ADDR", "") if request else ""
    return f"login-fail:user:{username.strip().lower()}", f"login-fail:ip:{address}"


def _minutes() -> int:
    return max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form that refuses to even check a password once an account had
    LOGIN_FAILURES_PER_ACCOUNT failures, or an address LOGIN_FAILURES_PER_ADDRESS, within
    LOGIN_LOCKOUT_SECONDS: a correct password guessed during a lockout does not sign in."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        account, address = _keys(self.request, username)
        if (cache.get(account) or 0) >= settings.LOGIN_FAILURES_PER_ACCOUNT:
            raise ValidationError(
                f"Too many failed sign-ins for this account. Try again in {_minutes()} "
                "minutes, or ask an admin to reset your password.",
                code="throttled",
            )
        if (cache.get(address) or 0) >= settings.LOGIN_FAILURES_PER_ADDRESS:
            raise ValidationError(
                f"Too many failed sign-ins from your address. Try again in {_minutes()} minutes.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            for key in (account, address):
                cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
                cache.incr(key)
            raise
        cache.delete(account)
        return cleaned
