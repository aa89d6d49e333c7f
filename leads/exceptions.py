"""Domain errors. The API maps them in one place (leadflow.api.exception_handler)
and pages show their message; nothing else catches them."""


class LeadFlowError(Exception):
    """A request the domain refuses; `status_code` is what the API answers."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra  # more of the API's answer, e.g. the allowed stage moves


class InvalidTransition(LeadFlowError):
    """A state change that conflicts with the current state."""

    status_code = 409


class IdentityConflict(LeadFlowError):
    """An email, phone or external id that already belongs to another lead."""

    status_code = 409
