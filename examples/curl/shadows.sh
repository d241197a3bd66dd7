#!/usr/bin/env bash
# Talks to a shadows gateway with curl: adds a task, schedules one for later with `when`, reads
# it, cancels it, strikes a parameter value, shows that a matching add is refused, restores the
# strike, and adds again.
#
# Usage:
#   bash shadows.sh [BASE_URL] [TOKEN]
#
# BASE_URL defaults to $SHADOWS_GATEWAY_URL, then http://127.0.0.1:8080; TOKEN to $SHADOWS_TOKEN
# (a token with the ops scope: it strikes and restores). Keys start with $SHADOWS_EXAMPLE_KEY
# (default: example-<seconds since 1970>-<pid>), so that the example can run again.
#
# Each step prints one line: the step, the HTTP status and the gateway's JSON answer. The script
# stops with exit code 1 at the first answer it did not expect.
set -euo pipefail

base_url="${1:-${SHADOWS_GATEWAY_URL:-http://127.0.0.1:8080}}"
base_url="${base_url%/}"
token="${2:-${SHADOWS_TOKEN:-}}"
prefix="${SHADOWS_EXAMPLE_KEY:-example-$(date +%s)-$$}"

auth=()
if [ -n "$token" ]; then auth=(-H "authorization: Bearer $token"); fi

# step NAME EXPECTED_STATUS METHOD PATH [JSON_BODY]: prints "NAME STATUS ANSWER"; sets $answer
step() {
  local name="$1" expected="$2" method="$3" path="$4" body="${5:-}"
  # ${auth[@]+…}: an empty array under set -u, also in the bash 3 of macOS
  local args=(-sS -X "$method" -H 'accept: application/json' ${auth[@]+"${auth[@]}"} -w '\n%{http_code}')
  # every request here has a key or is idempotent: repeating it after a 503 (curl honours its
  # Retry-After) is safe
  args+=(--retry 3)
  if [ -n "$body" ]; then args+=(-H 'content-type: application/json' --data "$body"); fi
  local out
  out="$(curl "${args[@]}" "$base_url$path")"
  local status="${out##*$'\n'}"
  answer="${out%$'\n'*}"
  echo "$name $status $answer"
  if [ "$status" != "$expected" ]; then
    echo "$name: expected $expected, got $status" >&2
    exit 1
  fi
}

# RFC 3339 with an offset (a time without one is refused): GNU date, or BSD date on macOS
when="$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+1H +%Y-%m-%dT%H:%M:%SZ)"

step add 202 POST /tasks "{\"task\":\"greet\",\"params\":{\"name\":\"Ada\"},\"key\":\"$prefix-now\"}"
step schedule 202 POST /tasks "{\"task\":\"greet\",\"params\":{\"name\":\"Grace\"},\"key\":\"$prefix-later\",\"when\":\"$when\"}"
step read 200 GET "/tasks/$prefix-later"
step cancel 200 DELETE "/tasks/$prefix-later"
step strike 201 POST /strikes '{"task":"greet","parameter":"name","operator":"==","value":"Mallory"}'
# the strike's id, from its JSON answer (sed, so that nothing beyond curl is needed)
strike_id="$(printf '%s' "$answer" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')"
step refused 409 POST /tasks "{\"task\":\"greet\",\"params\":{\"name\":\"Mallory\"},\"key\":\"$prefix-struck\"}"
step restore 200 DELETE "/strikes/$strike_id"
step add-again 202 POST /tasks "{\"task\":\"greet\",\"params\":{\"name\":\"Mallory\"},\"key\":\"$prefix-struck\"}"
