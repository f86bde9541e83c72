#!/usr/bin/env bash
# The status page in a real browser: hybridserve on loopback after a short
# calibration stream, opened in Debian's headless Chromium. The rendered DOM
# shows every repository model with its state, and lorenz63's version and ρ
# as GetModel reports them (so the page's JS fetched and drew live data); the
# screenshot has the page's layout: dark header, white model cards, and the
# blue of the coverage bar and trend lines, which only data can draw.
# Usage: status_page_test.sh HYBRIDSERVE HYBRIDCTL MODEL_REPOSITORY [SCREENSHOT_OUT]
set -euo pipefail
server_bin=$1 ctl=$2 repo=$3 keep=${4:-}
py=/usr/bin/python3
source "$(dirname "$0")/server_helpers.sh"
start_hybridserve "$server_bin" "$repo"
"$ctl" --target="127.0.0.1:$grpc_port" calibrate lorenz63 --synthetic=lorenz63 --observations=30 \
  --report_every=0 >/dev/null || fail "calibration"
"$ctl" --target="127.0.0.1:$grpc_port" get lorenz63 >"$work/get.txt" || fail "get"

browse() {  # Chromium, headless, as root (no sandbox), given time for the page's fetch.
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --virtual-time-budget=3000 "$@" "http://127.0.0.1:$metrics_port/status" 2>>"$work/chromium.log"
}
browse --dump-dom >"$work/dom.html" || fail "chromium --dump-dom"
browse --screenshot="$work/status.png" >/dev/null || fail "chromium --screenshot"
[[ -n "$keep" ]] && cp "$work/status.png" "$keep"

$py - "$work/dom.html" "$work/get.txt" "$repo" <<'PY' || fail "rendered page"
import os, re, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    """Text of every element with an id or class, keyed by id and by class path."""
    def __init__(self):
        super().__init__()
        self.stack, self.text = [], {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        key = a.get("id") or (a.get("data-name") and f"param:{a['data-name']}")
        self.stack.append(key)
    def handle_endtag(self, tag):
        self.stack.pop()
    def handle_data(self, data):
        for key in filter(None, self.stack):
            self.text[key] = self.text.get(key, "") + data

page = Page()
page.feed(open(sys.argv[1]).read())
get = open(sys.argv[2]).read()
models = sorted(d for d in os.listdir(sys.argv[3]) if os.path.exists(os.path.join(sys.argv[3], d, "config.pbtxt")))
for m in models:
    assert f"model-{m}" in page.text, f"no card for {m}: {sorted(page.text)}"
    assert "READY" in page.text[f"model-{m}"], f"{m} not READY: {page.text[f'model-{m}']}"
card = page.text["model-lorenz63"]
version = re.search(r"version (\d+)", get).group(1)
assert f"version{version}" in card.replace(" ", ""), f"version {version} not on the card: {card}"
rho_page = float(re.search(r"rho\s*([-0-9.e+]+)\s*±", card).group(1))
rho_get = float(re.search(r"rho\s*=\s*([-0-9.e+]+)", get).group(1))
assert abs(rho_page - rho_get) <= 1e-5 * abs(rho_get), (rho_page, rho_get)
print(f"page shows {len(models)} models; lorenz63 version {version}, rho {rho_page} (GetModel {rho_get})")
PY

$py - "$work/status.png" <<'PY' || fail "screenshot"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
assert img.size == (1280, 900), img.size
px = img.load()
assert px[5, 5] == (0x1d, 0x23, 0x30), f"header colour {px[5, 5]}"    # dark header bar
assert px[640, 120] == (255, 255, 255), f"card colour {px[640, 120]}"  # a white model card
blue = sum(1 for c in img.getdata() if c == (0x3b, 0x82, 0xf6))         # coverage fill + trend lines
colours = len(set(img.getdata()))
assert blue > 500, f"only {blue} pixels of the data colour: the page drew no data"
print(f"screenshot 1280x900, {colours} colours, {blue} data-coloured pixels")
PY
echo "status page test passed"
