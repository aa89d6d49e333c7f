"""API authentication: DRF's token auth, reading the user's roles in the same query."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from leads.rows import execute_prepared


class TokenWithRolesAuthentication(TokenAuthentication):
    """DRF's token authentication, reading the user's role groups in the same query
        (where `leads.roles.group_names` keeps them for the request): one query less on
        every API call whose permissions ask for the roles (the lead API's do at once). The
    project's default (`REST_FRAMEWORK`), so the schema has one token scheme."""

    def authenticate_credentials(self, key):
        user_model = get_user_model()
        fields = [f.attname for f in user_model._meta.concrete_fields]
        groups = user_model.groups.through._meta
        with connection.cursor() as cursor:
            execute_prepared(  # parsed and planned once per connection, as every call runs it
                cursor,
                f"SELECT t.created, {', '.join(f'u.{name}' for name in fields)}, "  # noqa: S608
                "ARRAY(SELECT g.name FROM auth_group g JOIN "
                f"{groups.db_table} ug ON ug.group_id = g.id WHERE ug.user_id = u.id) "
                f"FROM authtoken_token t JOIN {user_model._meta.db_table} u ON u.id = t.user_id "
                "WHERE t.key = %s",
                [key],
            )
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(gettext("Invalid token."))
        user = user_model.from_db(connection.alias, fields, row[1:-1])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(gettext("User inactive or deleted."))
        user._leadflow_groups = set(row[-1])
        token = Token.from_db(
            connection.alias, ["key", "user_id", "created"], [key, user.pk, row[0]]
        )
        return user, token
