"""Segment's own Python library (segment-analytics-python) sending to Kairos, as a
marketer's backend would: `python segment_calls.py URL WRITE_KEY calls|wrong-key`.

`calls` sends, in order and one request each (sync mode): two page views and a
`time_on_site` of an anonymous visitor, a page view on another device, the identify that
names the visitor `ann`, a purchase sent twice with one messageId, an alias of the other
device; then five `viewed_item` events for `bob` in one batch (the library's queue,
flushed). Any error the library reports makes the script fail. `wrong-key` sends one call
with the write key given and prints the status the library got.
"""

import json
import sys

from segment.analytics import Client
from segment.analytics.request import APIError

url, write_key, mode = sys.argv[1:4]

if mode == "wrong-key":
    client = Client(write_key, host=url, sync_mode=True, max_retries=0)
    try:
        client.track(user_id="ann", event="purchase")
    except APIError as error:
        print(json.dumps({"status": error.status}))
        sys.exit(0)
    print(json.dumps({"status": 200}))
    sys.exit(0)

errors = []
client = Client(write_key, host=url, sync_mode=True, max_retries=0)
client.page(anonymous_id="visitor-1", name="Pricing", properties={"url": "https://shop.test/pricing", "path": "/pricing"})
client.page(anonymous_id="visitor-1", name="Plans", properties={"path": "/plans"})
client.track(anonymous_id="visitor-1", event="time_on_site", properties={"seconds": 45})
client.page(anonymous_id="old-device", name="Home", properties={"path": "/"})
client.identify(
    user_id="ann",
    anonymous_id="visitor-1",
    traits={"email": "ann@example.com", "firstName": "Ann"},
    context={"timezone": "Europe/Berlin"},
)
for _ in range(2):
    client.track(user_id="ann", event="purchase", properties={"amount": 20}, message_id="order-1")
client.alias(previous_id="old-device", user_id="ann")

batched = Client(write_key, host=url, on_error=lambda e, batch: errors.append(str(e)), upload_size=100, max_retries=0)
for i in range(5):
    batched.track(user_id="bob", event="viewed_item", properties={"item": f"sku-{i}"})
batched.flush()
batched.join()
if errors:
    print(json.dumps({"errors": errors}))
    sys.exit(1)
print(json.dumps({"sent": 13}))
