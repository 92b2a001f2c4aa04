#!/usr/bin/env python3
"""The network lab's small tools (standard library only; every time is CLOCK_MONOTONIC in
nanoseconds, the same in every namespace of the machine):

  echo ADDR:PORT               a UDP echo service
  flow TARGET LOG [--every-ms N] [--size N]
                               sends a numbered datagram to TARGET every N ms and logs
                               `s SEQ T` when sent and `r SEQ T` when its echo comes back
  watch LOG NAME=URL...        polls each relay's /api/paths every 100 ms and logs `T NAME ROUTE`
                               whenever the first tunnel's route changes (ROUTE: direct,
                               detour-I-J-K, none)
  now                          prints the clock
  outage FLOW_LOG WATCH_LOG NAME START END [APPLIED]
                               figures of an outage from START to END (ns) as JSON: first
                               datagram sent once the cut was in place (APPLIED, default
                               START) and echoed (through the detour), timed from START;
                               datagrams lost around the switch, time back to direct after END
  congestion FLOW_LOG WATCH_LOG NAME START END
                               figures of a congestion from START to END as JSON: time to
                               the detour, switches after it, time back to direct
  switches WATCH_LOG NAME FROM TO
                               route changes of NAME between FROM and TO, as JSON
  rtt FLOW_LOG FROM TO         median round trip of the datagrams sent in [FROM, TO), ms
"""
import json
import socket
import statistics
import sys
import time
import urllib.request


def now():
    return time.monotonic_ns()


def echo(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def flow(target, log, every_ms=10, size=200):
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    s.setblocking(False)
    seq = 0
    period = every_ms * 1_000_000
    next_send = now()
    with open(log, "a", buffering=1) as out:
        while True:
            t = now()
            if t >= next_send:
                try:
                    s.send(seq.to_bytes(8, "big") + b"x" * max(0, size - 8))
                except (BlockingIOError, ConnectionRefusedError):
                    # A full socket buffer, or an ICMP error for an earlier datagram (a load
                    # sent to a closed port): this one is lost, the flow goes on.
                    pass
                out.write(f"s {seq} {t}\n")
                seq += 1
                next_send += period
            while True:
                try:
                    data = s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                out.write(f"r {int.from_bytes(data[:8], 'big')} {now()}\n")
            time.sleep(min(0.001, max(0, (next_send - now()) / 1e9)))


def route_of(paths):
    if not paths:
        return "none"
    route = paths[0].get("route")
    if route == "Direct":
        return "direct"
    if isinstance(route, dict) and "Detour" in route:
        return "detour-" + "-".join(str(i) for i in route["Detour"])
    return "none"


def watch(log, targets):
    last = {}
    with open(log, "a", buffering=1) as out:
        while True:
            for target in targets:
                name, url = target.split("=", 1)
                try:
                    with urllib.request.urlopen(url + "/api/paths", timeout=1) as response:
                        route = route_of(json.load(response))
                except Exception:
                    continue
                if last.get(name) != route:
                    last[name] = route
                    out.write(f"{now()} {name} {route}\n")
            time.sleep(0.1)


def read_flow(path):
    sent, received = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            kind, seq, t = parts[0], int(parts[1]), int(parts[2])
            if kind == "s":
                sent[seq] = t
            elif kind == "r" and seq not in received:
                received[seq] = t
    return sent, received


def read_watch(path, name):
    changes = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1] == name:
                changes.append((int(parts[0]), parts[2]))
    return changes


def route_at(changes, t):
    route = "none"
    for at, r in changes:
        if at > t:
            break
        route = r
    return route


def median_rtt_ms(sent, received, start, end):
    rtts = [(received[s] - t) / 1e6 for s, t in sent.items() if start <= t < end and s in received]
    return round(statistics.median(rtts), 1) if rtts else None


def outage(flow_log, watch_log, name, start, end, applied=None):
    """`start`: read just before the cut; `applied`: just after it was in place (datagrams
    sent between the two may still have taken the direct path)."""
    applied = start if applied is None else applied
    sent, received = read_flow(flow_log)
    changes = read_watch(watch_log, name)
    after = sorted((t, s) for s, t in sent.items() if t >= applied and s in received)
    first = min((received[s] for t, s in after if t < end), default=None)
    # Lost in the switch: sent once the cut was in place until the first datagram that made it
    # through.
    first_sent_through = min((t for t, s in after), default=None)
    lost = sum(1 for s, t in sent.items() if applied <= t and (first_sent_through is None or t < first_sent_through) and s not in received)
    detour = next((at for at, r in changes if at >= start and r.startswith("detour")), None)
    back = next((at for at, r in changes if at >= end and r == "direct"), None)
    on_detour_during = [r for at, r in changes if start < at < end]
    return {
        "outage_to_first_delivery_ms": round((first - start) / 1e6, 1) if first else None,
        "outage_to_detour_route_ms": round((detour - start) / 1e6, 1) if detour else None,
        "datagrams_lost_in_switch": lost,
        "repair_to_direct_ms": round((back - end) / 1e6, 1) if back else None,
        "routes_during_outage": on_detour_during,
        "route_at_end_of_outage": route_at(changes, end - 1),
        "rtt_direct_before_ms": median_rtt_ms(sent, received, start - 5_000_000_000, start),
        "rtt_during_outage_ms": median_rtt_ms(sent, received, start + 3_000_000_000, end),
    }


def congestion(flow_log, watch_log, name, start, end):
    sent, received = read_flow(flow_log)
    changes = read_watch(watch_log, name)
    detour = next((at for at, r in changes if at >= start and r.startswith("detour")), None)
    after = [r for at, r in changes if detour is not None and detour < at < end]
    back = next((at for at, r in changes if at >= end and r == "direct"), None)
    return {
        "start_to_detour_route_ms": round((detour - start) / 1e6, 1) if detour else None,
        "switches_after_reroute": len(after),
        "end_to_direct_ms": round((back - end) / 1e6, 1) if back else None,
        "rtt_before_ms": median_rtt_ms(sent, received, start - 5_000_000_000, start),
        "rtt_on_detour_ms": median_rtt_ms(sent, received, (detour or end) + 1_000_000_000, end),
    }


def switches(watch_log, name, start, end):
    changes = read_watch(watch_log, name)
    during = [(at, r) for at, r in changes if start < at <= end]
    return {
        "route_at_start": route_at(changes, start),
        "switches": len(during),
        "changes": [{"after_s": round((at - start) / 1e9, 2), "route": r} for at, r in during],
        "seconds": round((end - start) / 1e9, 1),
    }


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    command, args = argv[0], argv[1:]
    if command == "echo":
        echo(args[0])
    elif command == "flow":
        every = int(args[args.index("--every-ms") + 1]) if "--every-ms" in args else 10
        size = int(args[args.index("--size") + 1]) if "--size" in args else 200
        flow(args[0], args[1], every, size)
    elif command == "watch":
        watch(args[0], args[1:])
    elif command == "now":
        print(now())
    elif command == "outage":
        applied = int(args[5]) if len(args) > 5 else None
        print(json.dumps(outage(args[0], args[1], args[2], int(args[3]), int(args[4]), applied)))
    elif command == "congestion":
        print(json.dumps(congestion(args[0], args[1], args[2], int(args[3]), int(args[4]))))
    elif command == "switches":
        print(json.dumps(switches(args[0], args[1], int(args[2]), int(args[3]))))
    elif command == "rtt":
        sent, received = read_flow(args[0])
        print(json.dumps(median_rtt_ms(sent, received, int(args[1]), int(args[2]))))
    else:
        print(f"unknown command {command}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
