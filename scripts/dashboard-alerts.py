"""Drives the dashboard's alerts panel in headless Chromium, as a person would.

Usage: dashboard-alerts.py CHROMIUM PAGE_URL API_BASE TOKEN SCREENSHOT

Chromium is driven over the DevTools protocol through a pipe (--remote-debugging-pipe:
commands on its fd 3, replies on its fd 4, each message JSON ended by a NUL byte), so no
driver package is needed. Checks that the panel lists the fixture's fired alerts with
their delivery, that the rule form shows the API's 400 message for a bad rule and creates
a good one (read back through the API), then saves a full-page screenshot.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

chromium, page, api_base, token, screenshot = sys.argv[1:6]
# How long the page may take to settle; the checks poll for a state, never sleep for one.
PATIENCE = 60.0

to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()


def wire_pipes():
    a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
    os.dup2(a, 3)
    os.dup2(b, 4)


browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
     "--disable-background-networking", "--disable-component-update", "--disable-sync",
     "--remote-debugging-pipe", "--window-size=1280,900",
     "--user-data-dir=" + tempfile.mkdtemp(), "about:blank"],
    preexec_fn=wire_pipes, close_fds=False,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
os.close(to_chrome_r)
os.close(from_chrome_w)
buffer = b""
next_id = 0
problems = []


def command(method, params=None, session=None):
    global buffer, next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
    while True:
        while b"\0" not in buffer:
            chunk = os.read(from_chrome_r, 1 << 16)
            if not chunk:
                raise SystemExit("Chromium closed the DevTools pipe")
            buffer += chunk
        raw, buffer = buffer.split(b"\0", 1)
        reply = json.loads(raw)
        if reply.get("id") == next_id:
            if "error" in reply:
                raise SystemExit(f"{method}: {reply['error']}")
            return reply["result"]


def js(expression):
    result = command("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                          "returnByValue": True}, session)
    if "exceptionDetails" in result:
        raise SystemExit(f"page script failed: {result['exceptionDetails']}")
    return result["result"].get("value")


def wait_for(expression, what):
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        value = js(expression)
        if value:
            return value
        time.sleep(0.2)
    problems.append(f"{what} (waited {PATIENCE:.0f} s)")
    return None


def fill_and_submit(fields):
    js("(() => { const f = document.getElementById('rule-form'); f.reset();"
       + "".join(f"f.elements.namedItem({json.dumps(k)}).value = {json.dumps(v)};" for k, v in fields.items())
       + "document.getElementById('rule-error').textContent = '';"
       + "document.getElementById('rule-ok').textContent = '';"
       + "f.requestSubmit(); })()")


try:
    target = command("Target.createTarget", {"url": page})["targetId"]
    session = command("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    wait_for("document.body && document.body.dataset.ready === 'true'", "the page never finished its first render")

    # The fixture's three alerts, newest first, each with its delivery.
    rows = js("[...document.querySelectorAll('#alerts tbody tr[data-alert-id]')].map((r) => r.innerText.replace(/\\s+/g, ' '))") or []
    expected = [("ETH below 3600", "pending"), ("CoinMarketCap credits", "retrying"), ("BTC above 68k", "delivered")]
    if len(rows) != 3 or any(label not in row or status not in row for row, (label, status) in zip(rows, expected)):
        problems.append(f"the alerts panel shows {rows}, expected {expected} in that order")
    if rows and "3,598.50 vs 3,600.00" not in rows[0]:
        problems.append(f"the newest alert does not show its value against its threshold: {rows[0]!r}")

    # A bad rule: the API's message, as the API words it.
    fill_and_submit({"label": "E2E bad rule", "source": "cmc", "cmc_id": "1", "quote_currency": "USD",
                     "kind": "price_above", "threshold": "-5"})
    shown = wait_for("document.getElementById('rule-error').textContent", "the form showed no error for a negative threshold")
    wanted = 'rule "E2E bad rule": threshold must be a price above 0 for kinds price_above and price_below'
    if shown is not None and shown != wanted:
        problems.append(f"the form shows {shown!r}, expected the API's message {wanted!r}")

    # A good rule: created, listed, and stored.
    fill_and_submit({"label": "E2E BTC above 70k", "source": "cmc", "cmc_id": "1", "quote_currency": "USD",
                     "kind": "price_above", "threshold": "70000.5", "hysteresis": "0.5"})
    wait_for("[...document.querySelectorAll('#rules tbody tr')].some((r) => r.innerText.includes('E2E BTC above 70k'))",
             "the new rule never appeared in the rules list")
    error = js("document.getElementById('rule-error').textContent")
    if error:
        problems.append(f"the form shows an error for a good rule: {error!r}")
    request = urllib.request.Request(api_base + "api/alert-rules", headers={"Authorization": "Bearer " + token})
    stored = json.load(urllib.request.urlopen(request, timeout=10))["rules"]
    match = [r for r in stored if r["label"] == "E2E BTC above 70k"]
    if not match or match[0]["threshold"] != "70000.5" or match[0]["hysteresis"] != "0.5":
        problems.append(f"the API does not hold the rule as entered: {match}")

    # The whole page, alerts panel included.
    height = js("Math.ceil(document.documentElement.scrollHeight)")
    command("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
    js("document.getElementById('rule-ok').textContent = ''")
    shot = command("Page.captureScreenshot", {"format": "png"}, session)["data"]
    with open(screenshot, "wb") as out:
        out.write(base64.b64decode(shot))
finally:
    browser.kill()
    browser.wait()

if problems:
    print("dashboard alerts test failed:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("dashboard alerts test passed: 3 fired alerts with their delivery, the API's 400 shown, a rule created")
