#!/usr/bin/env python3
"""Load for `kairos serve` on the embedded store: POSTs events in batches from a few
threads, reports the accept rate and batch latency, then how fast the pipeline drains
them (from the store's own work table).

    scripts/load-serve.py --kairos target/release/kairos --events 20000 --contacts 10000
    scripts/load-serve.py --api tracking ...   # Segment-style `POST /v1/batch` (write key)

Only the Python standard library; a fresh data directory under /tmp each run."""
import argparse, json, os, shutil, sqlite3, subprocess, threading, time, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--kairos", default="target/release/kairos")
parser.add_argument("--events", type=int, default=20000)
parser.add_argument("--contacts", type=int, default=10000)
parser.add_argument("--batch", type=int, default=100)
parser.add_argument("--threads", type=int, default=4)
parser.add_argument("--synchronous", default="full")
parser.add_argument("--api", choices=["events", "tracking"], default="events")
args = parser.parse_args()

data = "/tmp/kairos-load"
shutil.rmtree(data, ignore_errors=True)
env = dict(os.environ, KAIROS_API_KEY="load", KAIROS_WRITE_KEY="write", RUST_LOG="error",
           KAIROS_SQLITE_SYNCHRONOUS=args.synchronous)
server = subprocess.Popen([args.kairos, "serve", "--listen", "127.0.0.1:0", "--data", data],
                          stdout=subprocess.PIPE, env=env)
url = json.loads(server.stdout.readline())["listening"]

def call(method, path, body, kind="application/json", auth="Bearer load"):
    request = urllib.request.Request(url + path, data=body.encode(), method=method,
                                     headers={"authorization": auth, "content-type": kind})
    with urllib.request.urlopen(request) as response:
        return response.status

def report():
    """The workflow's report and how long it took to answer, in ms."""
    request = urllib.request.Request(url + "/v1/workflows/load/report",
                                     headers={"authorization": "Bearer load"})
    began = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    return answer, round((time.perf_counter() - began) * 1000, 1)

call("PUT", "/v1/definitions", "templates:\n  hi:\n    subject: Hi\n    text: Hi\n", "application/yaml")
call("PUT", "/v1/workflows/load", "id: load\nentry: { triggers: [ { event: order } ], reentry: concurrent }\nsteps:\n  - { id: hi, send: { channel: email, template: hi, category: transactional } }\n  - { id: later, wait: { for: 3d } }\n", "application/yaml")

latencies, lock = [], threading.Lock()
def worker(start):
    for first in range(start, args.events, args.batch * args.threads):
        numbers = range(first, min(first + args.batch, args.events))
        began = time.perf_counter()
        if args.api == "tracking":
            # As Segment's libraries send it: Basic auth with the write key, a messageId each.
            batch = [{"type": "track", "userId": f"c{i % args.contacts}", "event": "order",
                      "properties": {"n": i}, "messageId": f"m{i}"} for i in numbers]
            call("POST", "/v1/batch", json.dumps({"batch": batch}), auth="Basic d3JpdGU6")
        else:
            events = [{"contact": f"c{i % args.contacts}", "event": "order", "props": {"n": i}}
                      for i in numbers]
            call("POST", "/v1/events", json.dumps({"events": events}))
        with lock:
            latencies.append(time.perf_counter() - began)

began = time.perf_counter()
threads = [threading.Thread(target=worker, args=(t * args.batch,)) for t in range(args.threads)]
for t in threads: t.start()
for t in threads: t.join()
accepted = time.perf_counter() - began
db = sqlite3.connect(os.path.join(data, "kairos.db"))
while db.execute("SELECT (SELECT count(*) FROM work) + (SELECT count(*) FROM dispatch)").fetchone()[0]:
    time.sleep(0.05)
drained = time.perf_counter() - began
latencies.sort()
size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
# The report: counted from the whole journal on the first call, then only what is new.
first, report_first_ms = report()
assert first["entered"] == args.events, first
call("POST", "/v1/events", json.dumps({"events": [{"contact": "c0", "event": "order"}]}))
while db.execute("SELECT (SELECT count(*) FROM work) + (SELECT count(*) FROM dispatch)").fetchone()[0]:
    time.sleep(0.05)
again, report_ms = report()
assert again["entered"] == args.events + 1, again
# A restart: until it listens, and its first report.
server.kill()
server.wait()
began = time.perf_counter()
server = subprocess.Popen([args.kairos, "serve", "--listen", "127.0.0.1:0", "--data", data],
                          stdout=subprocess.PIPE, env=env)
url = json.loads(server.stdout.readline())["listening"]
restart_s = time.perf_counter() - began
after, report_after_restart_ms = report()
assert after["entered"] == args.events + 1, after
print(json.dumps({
    "api": args.api, "events": args.events, "contacts": args.contacts, "synchronous": args.synchronous,
    "accepted_per_s": round(args.events / accepted), "processed_per_s": round(args.events / drained),
    "batch_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
    "batch_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    "disk_mb": round(size / 1e6, 1),
    "report_first_ms": report_first_ms, "report_ms": report_ms,
    "restart_s": round(restart_s, 2), "report_after_restart_ms": report_after_restart_ms,
}))
server.kill()
