"""Email addresses: checked with the email-validator library (syntax only, no DNS lookups).

Emails are personal data: shown only to organizers, never logged, erased by `muster forget`.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from handlers.errors import InvalidInput


def normalized_email(raw: str | None) -> str:
    """The address in its normal form (domain lowercased), or InvalidInput saying why not."""
    text = (raw or "").strip().strip("<>").rstrip(".,;!")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput({"email": str(exc)}) from None
