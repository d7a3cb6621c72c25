"""Parsing the numbers operators type into URLs, forms and API calls: clear errors, never a 500."""

from iacplatform.errors import DomainError


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
