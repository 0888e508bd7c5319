"""Typed errors handlers raise; each transport turns them into a user message in one place."""

from __future__ import annotations


class MusterError(Exception):
    """Base of every error a person should see as a message, not as a crash."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAnOrganizer(MusterError):
    def __init__(self, user_id: str):
        super().__init__(
            "Sorry, only organizers can use this command. Ask an admin to add you to "
            "ORGANIZER_SLACK_IDS."
        )
        self.user_id = user_id


class UsageError(MusterError):
    """A malformed command: the message is the exact usage line. Nothing was changed."""


class UnknownShift(MusterError):
    def __init__(self, shift_id: int | str):
        super().__init__(f"There is no shift {shift_id}.")
        self.shift_id = shift_id


class UnknownBroadcast(MusterError):
    def __init__(self, ref: int | str):
        super().__init__(f"There is no scheduled broadcast {ref}.")


class InvalidInput(MusterError):
    """Field-level validation errors (modal fields, import rows): {field: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
