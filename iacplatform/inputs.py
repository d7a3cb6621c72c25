"""Parsing the numbers operators type into URLs, forms and API calls: clear errors, never a 500."""

from typing import Annotated

from pydantic import Field

from iacplatform.errors import DomainError

# Paging parameters of the API: their bounds are in the schema, so a negative or huge value is a
# 422 from the schema check (never a negative slice or an out-of-range OFFSET in the database).
MAX_OFFSET = 10**9
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
LogCursor = Annotated[int, Field(ge=0, le=2**62)]


def parse_number(value, *, what: str = "version number", minimum: int = 1, field_name: str = "number") -> int:
    """A version number or serial from a URL or query string, or a 400 that says why."""
    text = str(value).strip() if value is not None else ""
    digits = text.lstrip("+")
    if not (digits.isascii() and digits.isdigit()) or int(digits) < minimum:  # "³".isdigit() is True
        raise DomainError(
            f"{value!r} is not a valid {what}: use a whole number of at least {minimum}.",
            errors={field_name: [f"Use a whole number ≥ {minimum}."]},
        )
    number = int(text)
    if number > 2**63 - 1:
        raise DomainError(f"{value!r} is not a valid {what}: it is too large.",
                          errors={field_name: ["Too large."]})
    return number
