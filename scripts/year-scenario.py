#!/usr/bin/env python3
"""Writes a year-long scenario for timing `kairos simulate`: N contacts sign up over
300 days into the welcome series; half update a cart (the abandoned-cart flow), some of
those buy; most open an email. Usage: scripts/year-scenario.py DIR [N]   (default 10000),
then `kairos simulate --json DIR/scenario.yaml > /dev/null`."""
import random
import shutil
import sys
from pathlib import Path

out = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
examples = Path(__file__).resolve().parent.parent / "examples"
out.mkdir(parents=True, exist_ok=True)
shutil.copy(examples / "welcome-series/workflow.yaml", out / "workflow.yaml")
shutil.copy(examples / "abandoned-cart/workflow.yaml", out / "cart.yaml")
shutil.copy(examples / "definitions.yaml", out / "definitions.yaml")
shutil.copytree(examples / "templates", out / "templates", dirs_exist_ok=True)
random.seed(7)
lines = ['start: "2026-01-05T08:00:00Z"', "until: 365d",
         "workflows: [ workflow.yaml, cart.yaml ]", "definitions: definitions.yaml", "contacts:"]
for i in range(n):
    lines.append(f'  - {{ id: c{i}, email: c{i}@example.com, phone: "+4915100{i:06d}", timezone: Europe/Berlin }}')
events = []
for i in range(n):
    t = random.randint(0, 300 * 86400)
    events.append((t, f"  - {{ at: {t}s, contact: c{i}, event: signed_up }}"))
    if random.random() < 0.5:
        t2 = t + random.randint(3600, 20 * 86400)
        events.append((t2, f'  - {{ at: {t2}s, contact: c{i}, event: cart_updated, props: {{ cart_id: {i}, cart_url: "https://shop.test/c/{i}" }} }}'))
        if random.random() < 0.4:
            events.append((t2 + 1800, f"  - {{ at: {t2 + 1800}s, contact: c{i}, event: purchase, props: {{ cart_id: {i}, amount: 42 }} }}"))
    if random.random() < 0.6:
        t3 = t + random.randint(86400, 5 * 86400)
        events.append((t3, f"  - {{ at: {t3}s, contact: c{i}, email_opened_last: true }}"))
events.sort()
lines.append("timeline:")
lines += [e for _, e in events]
(out / "scenario.yaml").write_text("\n".join(lines) + "\n")
print(f"{out / 'scenario.yaml'}: {n} contacts, {len(events)} timeline entries")
