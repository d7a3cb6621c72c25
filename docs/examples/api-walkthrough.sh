#!/usr/bin/env bash
# The whole life of a workspace through the JSON API, with nothing but curl (and python3 to read
# and write JSON): create a workspace, set a variable and a sensitive variable, save code, queue
# a plan, wait for it, confirm it, wait for the apply, read the new state version.
#
#   export IAC_TOKEN=$(.venv/bin/python manage.py create_token admin --name walkthrough)
#   export IAC_SECRET='the sensitive value'      # optional; read from the environment, never argv
#   docs/examples/api-walkthrough.sh [WORKSPACE] [FILE]
#
# IAC_URL defaults to http://127.0.0.1:8000 (`make run`). FILE is what the apply's local-exec
# provisioner writes (on the worker's host). The sensitive value goes from the environment to
# curl's stdin: it is never on a command line and never printed (the API answers "value": null).
set -euo pipefail

URL="${IAC_URL:-http://127.0.0.1:8000}"
: "${IAC_TOKEN:?set IAC_TOKEN to a token from: manage.py create_token USER --name NAME}"
export IAC_SECRET="${IAC_SECRET:-s3cr3t-$RANDOM$RANDOM}"
WS="${1:-api-walkthrough}"
OUT="${2:-/tmp/$WS.txt}"
TIMEOUT="${IAC_WAIT_SECONDS:-600}"

# api METHOD PATH: the JSON body (if any) is read from stdin; prints the JSON answer, fails on a 4xx/5xx.
api() {
  local method=$1 path=$2
  if [ "$method" = GET ]; then
    curl -sS --fail-with-body -H "Authorization: Bearer $IAC_TOKEN" "$URL/api/v1$path"
  else
    curl -sS --fail-with-body -X "$method" -H "Authorization: Bearer $IAC_TOKEN" \
      -H "Content-Type: application/json" --data-binary @- "$URL/api/v1$path"
  fi
}

# field EXPR: reads JSON on stdin, prints the Python expression EXPR evaluated on it (as `d`).
field() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# wait_for TASK_ID STATUS...: polls the run until it reaches one of STATUS (fails on another end).
wait_for() {
  local task=$1; shift
  local deadline=$((SECONDS + TIMEOUT)) status=""
  while [ $SECONDS -lt $deadline ]; do
    status=$(api GET "/tasks/$task" | field 'd["status"]')
    for want in "$@"; do [ "$status" = "$want" ] && { echo "run #$task: $status"; return 0; }; done
    case "$status" in
      failed|cancelled|discarded|plan_finished|planned_no_changes|applied)
        echo "run #$task ended as $status, not $*" >&2
        api GET "/tasks/$task/logs" | field '"\n".join(l["text"] for l in d["lines"])' >&2
        return 1 ;;
    esac
    sleep 1
  done
  echo "run #$task: still $status after $TIMEOUT s" >&2
  return 1
}

echo "== 1. create the workspace $WS"
echo "{\"name\": \"$WS\", \"description\": \"made by api-walkthrough.sh\"}" | api POST /workspaces \
  | field '"workspace %s (id %s)" % (d["name"], d["id"])'

echo "== 2. a variable and a sensitive variable"
echo '{"key": "greeting", "value": "hello from the API"}' | api POST "/workspaces/$WS/variables" \
  | field '"%s = %s" % (d["key"], d["value"])'
python3 -c 'import json, os; print(json.dumps({"key": "db_password", "value": os.environ["IAC_SECRET"], "sensitive": True}))' \
  | api POST "/workspaces/$WS/variables" | field '"%s = %s (sensitive: %s)" % (d["key"], d["value"], d["sensitive"])'

echo "== 3. save the code"
CODE=$(cat <<'HCL'
variable "greeting" {}
variable "db_password" {
  sensitive = true
}

resource "terraform_data" "hello" {
  input = sha256(var.db_password)

  provisioner "local-exec" {
    command = "echo '${var.greeting}' > '__OUT__'"
  }
}

output "greeting" {
  value = var.greeting
}
HCL
)
printf '%s\n' "${CODE//__OUT__/$OUT}" \
  | python3 -c 'import json, sys; print(json.dumps({"code": sys.stdin.read(), "code_format": "hcl", "message": "terraform_data with a local-exec"}))' \
  | api POST "/workspaces/$WS/code-versions" | field '"code version %s" % d["version"]["number"]'

echo "== 4. queue a plan (to apply after confirmation)"
PLAN=$(echo '{"kind": "plan_and_apply", "message": "walkthrough"}' | api POST "/workspaces/$WS/runs" | field 'd["id"]')
echo "plan run #$PLAN queued"
wait_for "$PLAN" planned
api GET "/tasks/$PLAN" | field '"changes: %s" % d["change_summary"]'

echo "== 5. confirm it"
APPLY=$(echo '{"comment": "reviewed by api-walkthrough.sh"}' | api POST "/tasks/$PLAN/confirm" | field 'd["id"]')
echo "apply run #$APPLY queued"
wait_for "$APPLY" applied

echo "== 6. the new state version"
SERIAL=$(api GET "/workspaces/$WS/state-versions" | field 'd["items"][0]["serial"]')
api GET "/workspaces/$WS/state-versions/$SERIAL" | field '"state serial %s from run #%s: %s; outputs: %s" % (
    d["serial"], d["task_id"], ", ".join(r["address"] for r in d["resources"]),
    ", ".join("%s=%s" % (o["name"], o.get("value")) for o in d["outputs"]))'
echo "the provisioner wrote $OUT"
