"""The notification center, a notification's delivery log, and the channel settings pages."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from executions import notifications as notes
from executions.forms import ChannelForm, ChannelSettingsForm
from executions.models import Notification, NotificationChannel, NotificationDelivery
from iacplatform.errors import DomainError, Forbidden
from iacplatform.pages import form_error_from, render_page
from workspaces.access import readable_workspaces
from workspaces.models import Workspace

PER_PAGE = 30


def _saved(request, to: str, *args):
    """After a form saved: a redirect, or for an HTMX post a client-side one (a followed
    redirect would swap the whole next page into the form)."""
    if request.htmx:
        return HttpResponseClientRedirect(resolve_url(to, *args))
    return redirect(to, *args)


def _forbidden_to_404(user, workspace) -> None:
    if not notes.can_manage_channels(user, workspace):
        raise Http404("No such channel.")


# --- notification center ---------------------------------------------------------------------
@require_GET
def notification_list_view(request):
    level = request.GET.get("level", "")
    if level not in Notification.Level.values:
        level = ""
    workspace_name = request.GET.get("workspace", "")
    queryset = notes.notifications_for_user(request.user).exclude(event=Notification.Event.TEST)
    if level:
        queryset = queryset.filter(level=level)
    if workspace_name:
        queryset = queryset.filter(workspace__name=workspace_name)
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    unread = set(Notification.objects.filter(pk__in=[n.pk for n in page]).exclude(read_by=request.user)
                 .values_list("pk", flat=True))
    notes.notifications_mark_read(user=request.user, notifications=Notification.objects.filter(
        pk__in=[n.pk for n in page]))
    context = {"page": page, "level": level, "workspace_name": workspace_name, "unread": unread,
               "levels": Notification.Level.choices,
               "workspaces": readable_workspaces(request.user).order_by("name").values_list("name", flat=True)}
    return render_page(request, "executions/notification_list.html", context, fragment="list")


@require_GET
def notification_detail_view(request, pk):
    try:
        note = notes.notification_get(pk, request.user)
    except DomainError:
        raise Http404("No such notification.") from None
    notes.notifications_mark_read(user=request.user, notifications=Notification.objects.filter(pk=note.pk))
    deliveries = note.deliveries.select_related("channel__workspace").prefetch_related("attempt_log")
    context = {"note": note, "deliveries": deliveries,
               "can_resend": {d.pk for d in deliveries if notes.can_manage_channels(request.user, d.channel.workspace)}}
    return render_page(request, "executions/notification_detail.html", context)


@require_POST
def notification_acknowledge_view(request, pk):
    try:
        note = notes.notification_get(pk, request.user)
    except DomainError:
        raise Http404("No such notification.") from None
    try:
        notes.notification_acknowledge(user=request.user, notification=note)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    messages.success(request, f"Emergency “{note.title}” acknowledged.")
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = reverse("notification_list")
    return redirect(target)


@require_POST
def delivery_resend_view(request, pk):
    delivery = get_object_or_404(NotificationDelivery.objects.select_related("channel"), pk=pk)
    _forbidden_to_404(request.user, delivery.channel.workspace)
    notes.delivery_resend(user=request.user, delivery=delivery)
    messages.success(request, f"Sent again to {delivery.channel.name}.")
    return redirect("notification_detail", delivery.notification_id)


# --- channels ----------------------------------------------------------------------------------
def _manageable_channels(user):
    channels = NotificationChannel.objects.select_related("workspace").order_by("workspace__name", "name")
    return [c for c in channels if notes.can_manage_channels(user, c.workspace)]


@require_http_methods(["GET", "POST"])
def channel_list_view(request):
    manageable = notes.workspaces_with_manageable_channels(request.user)
    if not notes.can_manage_channels(request.user, None) and not manageable:
        raise Http404("No channels for you to manage.")
    form = ChannelForm(request.POST or None, initial={"workspace": request.GET.get("workspace")})
    form.fields["workspace"].queryset = Workspace.objects.filter(pk__in=[w.pk for w in manageable]).order_by("name")
    if not notes.can_manage_channels(request.user, None):
        form.fields["workspace"].required = True
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                channel = notes.channel_create(
                    user=request.user, name=data["name"], kind=data["kind"], target=data["target"],
                    secret=data["secret"], workspace=data["workspace"], events=data["events"], levels=data["levels"])
            except DomainError as exc:
                form_error_from(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Channel {channel.name} added.")
                return _saved(request, "channel_detail", channel.pk)
        else:
            status = 400
    context = {"channels": _manageable_channels(request.user), "form": form}
    return render_page(request, "executions/channel_list.html", context, fragment="form", status=status)


@require_http_methods(["GET", "POST"])
def channel_detail_view(request, pk):
    channel = get_object_or_404(NotificationChannel.objects.select_related("workspace"), pk=pk)
    _forbidden_to_404(request.user, channel.workspace)
    form = ChannelSettingsForm(request.POST or None, initial={
        "events": channel.events, "levels": channel.levels, "enabled": channel.enabled})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                notes.channel_update(user=request.user, channel=channel, events=data["events"],
                                     levels=data["levels"], enabled=data["enabled"], target=data["target"],
                                     secret=data["secret"])
            except DomainError as exc:
                form_error_from(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Channel {channel.name} saved.")
                return _saved(request, "channel_detail", channel.pk)
        else:
            status = 400
    deliveries = (channel.deliveries.select_related("notification").prefetch_related("attempt_log")
                  .order_by("-created_at", "-id")[:25])
    context = {"channel": channel, "form": form, "deliveries": deliveries}
    return render_page(request, "executions/channel_detail.html", context, fragment="form", status=status)


@require_POST
def channel_test_view(request, pk):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    _forbidden_to_404(request.user, channel.workspace)
    notes.channel_send_test(user=request.user, channel=channel)
    messages.success(request, f"Test message queued for {channel.name}: its delivery shows below.")
    return redirect("channel_detail", channel.pk)


@require_POST
def channel_delete_view(request, pk):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    _forbidden_to_404(request.user, channel.workspace)
    notes.channel_delete(user=request.user, channel=channel)
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("channel_list")
