#!/usr/bin/env python3
"""smtp_load: sends COUNT copies of a message through SMTP with CONCURRENCY sessions at once, each copy
with its own envelope (bounce+PREFIX-N@example.com → PREFIX-N@example.net) and Message-ID, and retries
every copy the server tempfails (4xx, a dropped connection) until it is accepted, refused (5xx) or
the deadline passes, like an MTA's queue would. Prints one JSON summary line:

  {"sent": N, "accepted": A, "refused": R, "gave_up": G, "tempfails": T, "attempts": X,
   "accepted_ids": [...], "refused_ids": [...], "gave_up_ids": [...]}

Used by the fault and load tests (kill9.sh, soak.sh); --duration keeps sending new copies for that many
seconds instead of a fixed COUNT. Every wait is bounded by --timeout (one SMTP exchange) and --deadline.
"""
import argparse
import json
import queue
import re
import smtplib
import socket
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--message", required=True, help="an .eml file (LF or CRLF)")
    ap.add_argument("--prefix", default="load")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--duration", type=float, default=0, help="send for this many seconds instead of --count")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--deadline", type=float, default=120, help="seconds before giving up on retries")
    ap.add_argument("--timeout", type=float, default=30, help="seconds for one SMTP exchange")
    ap.add_argument("--retry-delay", type=float, default=0.5)
    args = ap.parse_args()

    template = open(args.message, "rb").read().replace(b"\r\n", b"\n")
    template = re.sub(rb"(?mi)^Message-ID:.*\n", b"", template, count=1)

    work = queue.Queue()
    lock = threading.Lock()
    stats = {"attempts": 0, "tempfails": 0}
    accepted, refused, gave_up = [], [], []
    started = time.monotonic()
    deadline = started + args.deadline + args.duration
    produced = [0]

    def make(n):
        ident = f"{args.prefix}-{n}"
        data = b"Message-ID: <" + ident.encode() + b"@load.example.com>\n" + template
        return ident, data

    def next_new():
        with lock:
            n = produced[0]
            if args.duration:
                if time.monotonic() - started >= args.duration:
                    return None
            elif n >= args.count:
                return None
            produced[0] += 1
        return make(n)

    def send(ident, data):
        """'ok', 'refused' or 'tempfail'."""
        try:
            with smtplib.SMTP("127.0.0.1", args.port, timeout=args.timeout) as smtp:
                smtp.ehlo("load.example.com")
                smtp.sendmail(f"bounce+{ident}@example.com", [f"{ident}@example.net"], data)
            return "ok"
        except smtplib.SMTPRecipientsRefused as e:
            codes = [c for c, _ in e.recipients.values()]
            return "refused" if all(500 <= c < 600 for c in codes) else "tempfail"
        except smtplib.SMTPResponseException as e:
            return "refused" if 500 <= e.smtp_code < 600 else "tempfail"
        except (smtplib.SMTPException, OSError, socket.timeout):
            return "tempfail"

    def worker():
        while True:
            try:
                ident, data, due = work.get_nowait()
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(min(delay, 0.2))
                    if due > time.monotonic():
                        work.put((ident, data, due))
                        continue
            except queue.Empty:
                item = next_new()
                if item is None:
                    with lock:
                        if work.empty():
                            return
                    time.sleep(0.05)
                    continue
                ident, data = item
            result = send(ident, data)
            with lock:
                stats["attempts"] += 1
                if result == "ok":
                    accepted.append(ident)
                elif result == "refused":
                    refused.append(ident)
                else:
                    stats["tempfails"] += 1
                    if time.monotonic() >= deadline:
                        gave_up.append(ident)
                        continue
            if result == "tempfail":
                work.put((ident, data, time.monotonic() + args.retry_delay))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + args.timeout + 5))
    # A thread still stuck here means a bounded wait did not bound: report what is known.
    with lock:
        summary = {
            "sent": produced[0],
            "accepted": len(accepted),
            "refused": len(refused),
            "gave_up": len(gave_up),
            "tempfails": stats["tempfails"],
            "attempts": stats["attempts"],
            "seconds": round(time.monotonic() - started, 1),
            "accepted_ids": sorted(accepted),
            "refused_ids": sorted(refused),
            "gave_up_ids": sorted(gave_up),
        }
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0 if all(not t.is_alive() for t in threads) else 3


if __name__ == "__main__":
    sys.exit(main())
