"""What went wrong in a failed run, in an operator's words: ``classify`` a terraform step.

Every failed run gets a *category* (stored in ``WorkspaceTask.error_category``), a
*retryable* flag (may the same step succeed if run again unchanged?) and a one-line
*hint* (stored in ``WorkspaceTask.error_hint``) saying what to do.

Terraform's diagnostics are read from its output: the ``Error: <summary>`` blocks of the
human output (warnings are ignored), or the ``diagnostic`` objects of ``-json`` output
when a step runs with ``-json``. The patterns are checked in an order that puts the most
specific cause first: a provider error that mentions a file and line because of an
expired token is a credentials problem, not a configuration one.

Hints only ever quote identifiers terraform printed (a variable name, a provider
address, a host, a file and line) — never values — and the output they come from is
already redacted by the log writer.
"""

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    retryable: bool
    hint: str  # the default hint, when nothing more specific is known


_CATEGORIES = [
    Category("configuration", "Configuration error", False,
             "The Terraform code is invalid: fix the error shown at the end of the log and save a new code version."),
    Category("variable", "Variable missing or invalid", False,
             "A variable is missing, undeclared or has an invalid value: fix it in the workspace's variables."),
    Category("network", "Network / registry unreachable", True,
             "A provider or module could not be downloaded: configure a provider mirror (IAC_PROVIDER_MIRROR) "
             "or let the workers reach the registry."),
    Category("provider_checksum", "Provider checksum mismatch", False,
             "The provider package does not match the checksums in the dependency lock file: plan again to "
             "record the provider in use, or restore the mirror's original package."),
    Category("provisioner", "Provisioner failed", False,
             "A provisioner (local-exec, remote-exec, file) failed: its command and output are at the end of the log; "
             "fix the command or what it needs, then run again."),
    Category("state_lock", "State locked", True,
             "Another process holds the lock on this workspace's state: wait for it to finish; if nothing is "
             "running, release the lock."),
    Category("state_conflict", "State serial/lineage conflict", False,
             "The state terraform wrote conflicts with the stored state (serial or lineage): it is kept in a "
             "backup file; compare it with the latest state version before restoring it."),
    Category("credentials", "Credentials refused", False,
             "The cloud credentials are missing, expired or not allowed to do this: check the workspace's "
             "credentials (environment variables, IAM role) and their permissions."),
    Category("throttling", "Cloud API throttling / quota", True,
             "The cloud API throttled the requests or a quota is exhausted: run again later, or raise the "
             "quota / lower the parallelism."),
    Category("timeout", "Timed out", False,
             "Terraform ran longer than its timeout and was stopped: raise the stage's timeout "
             "(IAC_TIMEOUT_INIT/PLAN/APPLY or the workspace's override) or find what hangs in the log."),
    Category("cancelled", "Cancelled", False, "The run was cancelled; start a new run when you are ready."),
    Category("stale_plan", "Stale plan", False,
             "The code, variables or state changed since the plan was made: plan again and confirm the new plan."),
    Category("internal", "Internal error", False,
             "Something failed inside the platform, not in your code: run again; if it persists, report it "
             "with the run number and its log."),
    # Terraform failed in a way none of the above recognises.
    Category("unknown", "Terraform error", False,
             "Terraform failed with an error the platform does not recognise: read the error at the end of the log."),
    # Written by other parts of the executor.
    Category("state_save", "State not saved", False,
             "The state could not be stored in the database: it is in a backup file and the workspace is locked; "
             "restore it with `manage.py retry_state_save <workspace>`."),
    Category("hook", "Mandatory hook failed", False,
             "A mandatory run hook failed: its message is on the run page; fix what it checks, or disable the "
             "hook under the workspace's Settings → Hooks."),
    Category("policy", "Policy check failed", False,
             "A hard-mandatory policy denied the plan: the deny messages are on the run page; change the code "
             "so that the policy passes."),
    Category("worker_lost", "Worker lost", False,
             "The worker running this task stopped: check the state and the resources, then start a new run."),
]
CATEGORIES: dict[str, Category] = {c.key: c for c in _CATEGORIES}
# Runs stored before this module existed used "terraform" for any terraform failure.
_ALIASES = {"terraform": "unknown"}


def category_info(key: str) -> Category | None:
    """The category called ``key`` (unknown keys get a neutral description), or None if empty."""
    if not key:
        return None
    key = _ALIASES.get(key, key)
    return CATEGORIES.get(key) or Category(key, key.replace("_", " ").capitalize(), False, "")


@dataclass(frozen=True)
class Classification:
    category: str
    hint: str
    summary: str = ""  # terraform's own one-line summary of the error, when there is one

    @property
    def retryable(self) -> bool:
        return CATEGORIES[self.category].retryable


def failure(category: str, hint: str = "", summary: str = "") -> Classification:
    return Classification(category, hint or CATEGORIES[category].hint, summary)


# --- reading terraform's diagnostics ------------------------------------------------------
_ERROR_LINE = re.compile(r"^(?:[│╷╵]\s*)?Error: (.*)$")
_WARNING_LINE = re.compile(r"^(?:[│╷╵]\s*)?Warning: (.*)$")


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    detail: str
    address: str = ""  # the resource it is about, when -json output says so

    @property
    def text(self) -> str:
        return f"{self.summary}\n{self.detail}"


def diagnostics(output: str) -> list[Diagnostic]:
    """The error diagnostics in terraform output: ``-json`` lines, else ``Error:`` blocks."""
    found: list[Diagnostic] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        diag = event.get("diagnostic") if isinstance(event, dict) else None
        if isinstance(diag, dict) and diag.get("severity") == "error":
            detail = diag.get("detail") or ""
            rng = diag.get("range") or {}
            if rng.get("filename"):
                detail += f"\n  on {rng['filename']} line {(rng.get('start') or {}).get('line', '?')}"
            found.append(Diagnostic(str(diag.get("summary") or ""), detail, str(diag.get("address") or "")))
    if found:
        return found
    current: list[str] | None = None
    summary = ""
    for raw in output.splitlines():
        line = raw.rstrip()
        error = _ERROR_LINE.match(line)
        if error:
            if current is not None:
                found.append(Diagnostic(summary, "\n".join(current)))
            summary, current = error.group(1).strip(), []
        elif _WARNING_LINE.match(line):
            if current is not None:
                found.append(Diagnostic(summary, "\n".join(current)))
            current = None
        elif current is not None:
            current.append(re.sub(r"^[│╷╵]\s?", "", line))
    if current is not None:
        found.append(Diagnostic(summary, "\n".join(current)))
    return found


def _first(pattern: str, text: str, flags=re.IGNORECASE) -> str:
    match = re.search(pattern, text, flags)
    return match.group(1) if match else ""


_IDENT = r"([A-Za-z_][A-Za-z0-9_-]{0,63})"
_PROVIDER = r"((?:[a-z0-9.-]+/)?[a-z0-9_-]+/[a-z0-9_-]+)"

_CHECKSUM = re.compile(
    r"doesn't match any of the checksums|does not match any of the checksums|checksums previously recorded in "
    r"the dependency lock file|Inconsistent dependency lock file|provider .* checksum|checksum mismatch|"
    r"hash.*not.*(?:match|in the lock file)", re.IGNORECASE)
_STATE_LOCK = re.compile(
    r"Error acquiring the state lock|Error locking state|state (?:is )?locked|ConditionalCheckFailedException.*lock|"
    r"Failed to (?:lock|acquire lock)|lock (?:is )?already held|workspace is currently locked", re.IGNORECASE)
_STATE_CONFLICT = re.compile(
    r"lineage|state serial|serial \d+ .*(?:older|lower|newer)|state snapshot.*(?:newer|conflict)|"
    r"does not have the expected content|state data in .* does not|checksum calculated for the state",
    re.IGNORECASE)
_CREDENTIALS = re.compile(
    r"No valid credential sources|InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|"
    r"ExpiredToken|Token(?:Refresh)?Required|security token included in the request is (?:invalid|expired)|"
    r"AccessDenied|Access Denied|UnauthorizedOperation|AuthorizationFailed|AuthFailure|not authorized to perform|"
    r"invalid_grant|could not find default credentials|Unable to locate credentials|failed to refresh cached "
    r"credentials|(?:status code|StatusCode|HTTP|response|Error)[: ]*40[13]\b|40[13] (?:Unauthorized|Forbidden)|"
    r"\bUnauthorized\b|permission denied.*(?:api|iam)|"
    r"credentials? (?:are|is) (?:invalid|expired|missing)|invalid credentials|authentication failed",
    re.IGNORECASE)
_THROTTLING = re.compile(
    r"Throttl|Rate exceeded|RequestLimitExceeded|TooManyRequests|Too Many Requests|SlowDown|"
    r"(?:status code|StatusCode|HTTP|response)[: ]*429\b|"
    r"rate limit|RateLimit|quota exceeded|QuotaExceeded|LimitExceeded|exceeded .*quota|"
    r"RESOURCE_EXHAUSTED|ServiceUnavailable.*(?:retry|later)", re.IGNORECASE)
_NETWORK = re.compile(
    r"Failed to query available provider packages|Failed to install provider|could not connect to|"
    r"Failed to download module|Failed to retrieve available versions|Error accessing remote module registry|"
    r"dial tcp|no such host|connection refused|connection reset|network is unreachable|i/o timeout|"
    r"TLS handshake timeout|Client\.Timeout exceeded|failed to request discovery document|"
    r"Temporary failure in name resolution|context deadline exceeded|"
    r"Failed to fetch|host unreachable|no route to host", re.IGNORECASE)
_VARIABLE = re.compile(
    r"Reference to undeclared input variable|No value for required variable|Invalid value for (?:input )?variable|"
    r"Invalid default value for variable|Variables not allowed|Unassigned variable|Invalid variable",
    re.IGNORECASE)
_CONFIGURATION = re.compile(
    r"Invalid expression|Unsupported argument|Extraneous JSON object property|Argument or block definition "
    r"required|Invalid block definition|Missing required argument|Unsupported block type|Invalid reference|"
    r"Unclosed configuration block|Invalid character|Missing newline after|Duplicate (?:resource|module|output|"
    r"variable|provider|data)|Reference to undeclared|Invalid function argument|Call to unknown function|"
    r"Unsupported attribute|Incorrect attribute value type|Invalid template|Missing item separator|"
    r"Invalid JSON|Syntax error|Invalid (?:resource|module|provider|output|data source) (?:name|type)|"
    r"Module not installed|Unreadable module directory|Invalid (?:count|for_each) argument|"
    r"Unsupported Terraform Core version|Invalid multi-line string|Invalid quoted type constraints|"
    r"Missing (?:attribute|key) |Unexpected (?:end|character)|Cycle:|Error in function call|"
    r"Invalid index|Invalid operand|Unknown variable", re.IGNORECASE)
_CRASH = re.compile(r"TERRAFORM CRASH|^panic: |goroutine \d+ \[running\]", re.IGNORECASE | re.MULTILINE)
_SOURCE_REF = re.compile(r"\bon ([\w./-]+\.tf(?:\.json)?) line (\d+)")


def _variable_hint(text: str) -> str:
    undeclared = _first(r'input variable with the name "' + _IDENT + '"', text)
    if undeclared:
        return (f'Variable "{undeclared}" is used but not declared: add it as a workspace variable (it is then '
                f'declared for you) or declare it in the code.')
    unset = _first(r'root module input variable "' + _IDENT + r'" is not set', text) or _first(
        r'No value for required variable.*?"' + _IDENT + '"', text, re.IGNORECASE | re.DOTALL)
    if unset:
        return f'Set variable "{unset}" in the workspace variables (it is declared without a default).'
    invalid = _first(r"not suitable for var\." + _IDENT, text) or _first(
        r'Invalid value for (?:input )?variable.*?var\.' + _IDENT, text, re.IGNORECASE | re.DOTALL)
    if invalid:
        flat = " ".join(text.split())  # terraform wraps its sentences
        reason = _first(r"not suitable for var\.\S+ declared at [^:]+:[^:]*: ([^.]{1,120})", flat)
        return (f'Fix the value of variable "{invalid}" in the workspace variables'
                + (f" ({reason.strip()})." if reason else "."))
    return CATEGORIES["variable"].hint


def _network_hint(text: str) -> str:
    host = _first(r"could not connect to ([a-z0-9.-]+\.[a-z]{2,})", text) or _first(
        r"lookup ([a-z0-9.-]+\.[a-z]{2,})", text) or _first(r"https?://([a-z0-9.-]+\.[a-z]{2,})", text)
    provider = _first(r"(?:for provider|provider package for|installing)\s+" + _PROVIDER, text)
    what = f"provider {provider}" if provider else "a provider or module"
    where = f"{host} is unreachable" if host else "the download failed"
    return (f"Could not download {what}: {where}. Configure a provider mirror (IAC_PROVIDER_MIRROR) "
            f"or let the workers reach the registry.")


def _checksum_hint(text: str) -> str:
    provider = _first(r"(?:package for|provider)\s+" + _PROVIDER, text)
    what = f"provider {provider}" if provider else "a provider"
    return (f"The package of {what} does not match the checksums in the dependency lock file of the plan: plan "
            f"again to record the provider in use, or restore the mirror's original package.")


def _state_lock_hint(text: str) -> str:
    lock_id = _first(r"^\s*ID:\s+([0-9a-f-]{8,64})\s*$", text, re.IGNORECASE | re.MULTILINE)
    who = _first(r"^\s*Who:\s+(\S{1,120})\s*$", text, re.MULTILINE)
    held = f" (lock {lock_id}" + (f" held by {who}" if who else "") + ")" if lock_id else ""
    return (f"Another process holds the state lock{held}: wait for it to finish; if nothing is running any more, "
            f"release it (terraform force-unlock).")


_PROVISIONER = re.compile(r"\b(local-exec|remote-exec|file) provisioner error\b", re.IGNORECASE)
_COMMAND_MAX = 200  # characters of a command quoted in a hint


def _provisioner_hint(text: str, address: str = "") -> str:
    """Which provisioner of which resource failed, and how: the command and its exit code."""
    flat = " ".join(text.split())  # terraform wraps its sentences
    kind = _first(r"\b(local-exec|remote-exec|file) provisioner error", flat) or "a"
    address = address or _first(r"\bwith ([\w.\[\]\"-]+),", flat)
    whose = f"The {kind} provisioner of {address}" if address else f"The {kind} provisioner"
    match = re.search(r"Error running command '(.+?)': exit status (\d+)", flat, re.DOTALL)
    if match:
        command = match.group(1)
        if len(command) > _COMMAND_MAX:
            command = command[:_COMMAND_MAX - 1] + "…"
        return (f"{whose} failed: the command `{command}` exited with code {match.group(2)}. Fix the command "
                f"(or what it calls; its output is at the end of the log), then run again.")
    signal = re.search(r"Error running command '(.+?)': signal: (\w+)", flat, re.DOTALL)
    if signal:
        command = signal.group(1)[:_COMMAND_MAX]
        return (f"{whose} failed: the command `{command}` was killed by signal {signal.group(2)}. "
                f"Find out why in the log, then run again.")
    return f"{whose} failed: read its output at the end of the log, fix the cause, then run again."


_LOCKED_VERSION = re.compile(r"locked provider .* does not match configured version constraint|"
                             r"must use terraform init -upgrade", re.IGNORECASE)


def _locked_version_hint(text: str) -> str:
    flat = " ".join(text.split())
    provider = _first(r"locked provider " + _PROVIDER, flat)
    what = f"provider {provider}" if provider else "a provider"
    return (f"The stored lock file pins {what} at a version the code no longer allows: start a run with "
            f"\"upgrade providers\" (API: upgrade_providers) to take a version the code allows.")


def _configuration_hint(diag: Diagnostic | None, text: str) -> str:
    ref = _SOURCE_REF.search(text)
    summary = diag.summary if diag is not None else ""
    if ref:
        return (f"Fix the code at {ref.group(1)} line {ref.group(2)}" + (f": {summary}" if summary else "")
                + ". Then save a new code version.")
    if summary:
        return f"Fix the code: {summary}. Then save a new code version."
    return CATEGORIES["configuration"].hint


def classify(output: str, exit_code: int | None = None, *, timed_out: bool = False, cancelled: bool = False,
             what: str = "", timeout: float | None = None) -> Classification:
    """Classify a failed terraform step from its output (tail) and exit code."""
    if cancelled:
        return failure("cancelled", f"The run was cancelled during {what or 'terraform'}; start a new run when "
                                    f"you are ready.")
    if timed_out:
        stage = what or "the step"
        limit = f"its {int(timeout)} s timeout" if timeout else "its timeout"
        setting = f"IAC_TIMEOUT_{what.upper()}" if what else "IAC_TIMEOUT_INIT/PLAN/APPLY"
        return failure("timeout", f"terraform {stage} ran longer than {limit} and was stopped gracefully: raise "
                                  f"{setting} or the workspace's {stage} timeout, or find what hangs in the log.")
    diags = diagnostics(output)
    # Without a diagnostic, the whole tail is all there is (a crash, an unusual binary).
    texts = [(d, d.text) for d in diags] or [(None, output)]
    summary = diags[0].summary if diags else ""
    if _CRASH.search(output):
        return failure("internal", "Terraform itself crashed: run again; if it repeats, report it with the log.",
                       summary or "Terraform crashed")
    if exit_code is not None and exit_code < 0:
        return failure("internal", f"terraform was killed by signal {-exit_code} (out of memory?): check the "
                                   f"worker and run again.", summary)
    # A provisioner's own output may say anything ("Access Denied", "connection refused"): the
    # failing provisioner is what happened, so it comes first, recognised by terraform's summary.
    for diag, text in texts:
        if _PROVISIONER.search(diag.summary if diag is not None else text):
            return failure("provisioner", _provisioner_hint(text, diag.address if diag else ""),
                           diag.summary if diag else summary)
    # The stored lock file pins a provider version the code no longer allows: not a network
    # problem (terraform says so under "Failed to query available provider packages").
    for diag, text in texts:
        if _LOCKED_VERSION.search(" ".join(text.split())):
            return failure("configuration", _locked_version_hint(text), diag.summary if diag else summary)
    rules = [
        ("provider_checksum", _CHECKSUM, _checksum_hint),
        ("state_lock", _STATE_LOCK, _state_lock_hint),
        ("credentials", _CREDENTIALS, None),
        ("throttling", _THROTTLING, None),
        ("state_conflict", _STATE_CONFLICT, None),
        ("network", _NETWORK, _network_hint),
        ("variable", _VARIABLE, _variable_hint),
    ]
    for category, pattern, make_hint in rules:
        for diag, text in texts:
            if pattern.search(text):
                hint = make_hint(text) if make_hint else ""
                return failure(category, hint, diag.summary if diag else summary)
    for diag, text in texts:
        if _CONFIGURATION.search(text) or (diag is not None and _SOURCE_REF.search(text)
                                           and not re.search(r"^\s*with [\w.\[\]\"-]+,", text, re.MULTILINE)):
            return failure("configuration", _configuration_hint(diag, text), diag.summary if diag else summary)
    return failure("unknown", "", summary)
