#!/usr/bin/env python3
"""idle_client.py ADDR PORT PATH N IDLE_S: bench/http/idle.sh's client.

Opens N keep-alive connections to ADDR:PORT, gets PATH once on each
(every answer complete and 200), prints "ready" and flushes, sleeps IDLE_S
seconds with every connection open and silent, prints "check", then gets
PATH once more on each connection (a connection the server dropped while
idle is an error) and closes them all. Exit status 0 when all 2*N answers
were complete.
"""
import socket
import sys
import time


def get(s, req):
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed before the head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed in the body")
        body += chunk
    if status != b"200" or len(body) != length:
        raise OSError("bad answer %r" % status)


def main():
    addr, port, path, n, idle = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, addr)).encode()
    conns = []
    for _ in range(n):
        s = socket.create_connection((addr, port), timeout=10)
        get(s, req)
        conns.append(s)
    print("ready", flush=True)
    time.sleep(idle)
    print("check", flush=True)
    for s in conns:
        get(s, req)
    for s in conns:
        s.close()
    print("ok %d connections, %d answers" % (n, 2 * n), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print("idle_client: %s" % e, flush=True)
        sys.exit(1)
