"""The top bar's bell (unread count) and the emergency banner, on every page.

Both are callables, evaluated (once) only when a template uses them: an HTMX fragment, which
does not render base.html, costs no query.
"""

from functools import cache

from executions.notifications import open_emergencies, unread_count


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": cache(lambda: unread_count(user)),
            "open_emergencies": cache(lambda: list(open_emergencies(user)[:5]))}
