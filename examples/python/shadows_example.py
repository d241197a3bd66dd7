#!/usr/bin/env python3
"""Talks to a shadows gateway with Python's standard library only (urllib, json).

Adds a task, schedules one for later with `when`, reads it, cancels it, strikes a parameter
value, shows that a matching add is refused, restores the strike, and adds again.

Usage:
    python3 shadows_example.py [BASE_URL] [TOKEN]

BASE_URL defaults to $SHADOWS_GATEWAY_URL, then http://127.0.0.1:8080; TOKEN to $SHADOWS_TOKEN
(a token with the ops scope: it strikes and restores). Keys start with $SHADOWS_EXAMPLE_KEY
(default: example-<milliseconds since 1970>), so that the example can run again.

Each step prints one line: the step, the HTTP status and the gateway's JSON answer. The example
stops with exit code 1 at the first answer it did not expect.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

BASE_URL = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SHADOWS_GATEWAY_URL", "http://127.0.0.1:8080")).rstrip("/")
TOKEN = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SHADOWS_TOKEN", "")
PREFIX = os.environ.get("SHADOWS_EXAMPLE_KEY") or f"example-{int(time.time() * 1000)}"


def call(method, path, body=None, retries=3):
    """One request: returns (status, text of the answer). Retries a 503 after its Retry-After."""
    headers = {"accept": "application/json"}
    data = None
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode("utf-8")
    if TOKEN:
        headers["authorization"] = f"Bearer {TOKEN}"
    request = urllib.request.Request(BASE_URL + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8")
        # every request here has a key or is idempotent, so repeating it after a 503 is safe
        if error.code == 503 and retries > 0:
            delay = error.headers.get("retry-after", "1")
            time.sleep(int(delay) if delay.isdigit() else 1)
            return call(method, path, body, retries - 1)
        return error.code, text


def step(name, expected, method, path, body=None):
    """Runs one step and prints `name status answer`; exits when the status is not `expected`."""
    status, text = call(method, path, body)
    print(f"{name} {status} {text}", flush=True)
    if status != expected:
        answer = json.loads(text) if text.startswith("{") else {}
        print(f"{name}: expected {expected}, got {status} {answer.get('code', '')}", file=sys.stderr)
        sys.exit(1)
    return json.loads(text)


def main():
    now_key, later_key, struck_key = f"{PREFIX}-now", f"{PREFIX}-later", f"{PREFIX}-struck"
    # RFC 3339 with an offset: a time without one is refused
    when = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    step("add", 202, "POST", "/tasks", {"task": "greet", "params": {"name": "Ada"}, "key": now_key})
    step("schedule", 202, "POST", "/tasks", {"task": "greet", "params": {"name": "Grace"}, "key": later_key, "when": when})
    step("read", 200, "GET", f"/tasks/{later_key}")
    step("cancel", 200, "DELETE", f"/tasks/{later_key}")
    strike = step("strike", 201, "POST", "/strikes", {"task": "greet", "parameter": "name", "operator": "==", "value": "Mallory"})
    step("refused", 409, "POST", "/tasks", {"task": "greet", "params": {"name": "Mallory"}, "key": struck_key})
    step("restore", 200, "DELETE", f"/strikes/{strike['id']}")
    step("add-again", 202, "POST", "/tasks", {"task": "greet", "params": {"name": "Mallory"}, "key": struck_key})


if __name__ == "__main__":
    main()
