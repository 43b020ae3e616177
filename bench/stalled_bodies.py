#!/usr/bin/env python3
"""Stalled webhook bodies against a running dunwell: N connections each send
a current-looking Stripe-Signature and Content-Length (default 1 MiB), all
of the body but one byte, and stall. Prints the server's RSS before, while
the connections hang, and after they are given up, and how the server
answered.

    python3 bench/stalled_bodies.py --url http://127.0.0.1:8080 --pid PID [--connections 500]
"""
import argparse
import socket
import time
from urllib.parse import urlparse


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--size", type=int, default=1024 * 1024)
    args = ap.parse_args()
    u = urlparse(args.url)
    host, port = u.hostname, u.port or 80
    print(f"RSS before: {rss_mib(args.pid):.0f} MiB")
    sockets, answered = [], {}
    chunk = b"x" * 65536
    for _ in range(args.connections):
        s = socket.create_connection((host, port))
        s.settimeout(0.2)
        head = (
            f"POST /webhooks/stripe HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {args.size}\r\n"
            f"Stripe-Signature: t={int(time.time())},v1={'0' * 64}\r\n\r\n"
        ).encode()
        s.sendall(head)
        left = args.size - 1
        try:
            while left > 0:
                n = s.send(chunk[: min(left, len(chunk))])
                left -= n
        except (socket.timeout, BlockingIOError, OSError):
            pass
        sockets.append(s)
    time.sleep(2)
    print(f"RSS with {len(sockets)} stalled bodies: {rss_mib(args.pid):.0f} MiB")
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(1)
    for s in sockets:
        try:
            s.settimeout(0.5)
            line = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
        except OSError:
            line = "(no answer)"
        answered[line] = answered.get(line, 0) + 1
        s.close()
    time.sleep(1)
    print(f"RSS after: {rss_mib(args.pid):.0f} MiB")
    for line, n in sorted(answered.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d} x {line}")


if __name__ == "__main__":
    main()
