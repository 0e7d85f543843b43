#!/usr/bin/python3
"""Checks `ofactl stats --prometheus` with a real parser of the text format.

Usage: prom_check.py METRICS_FILE STATS_JSON_FILE
The metrics must parse (prometheus_client, Debian's python3-prometheus-client),
have HELP and TYPE for every family, counters named _total, an `arena` label
on every arena metric, and values equal to those of `ofactl stats --json`.
Exit 0 when all holds, 1 with the first difference on stderr.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

# metric family (as the parser names it) -> key of the arena's JSON record
ARENA = {
    "ofa_arena_page_size_bytes": "page_size",
    "ofa_arena_max_bytes": "max_bytes",
    "ofa_arena_pages": "pages",
    "ofa_arena_reserved_bytes": "bytes_reserved",
    "ofa_arena_live_bytes": "bytes_live",
    "ofa_arena_live_blocks": "blocks_live",
    "ofa_arena_free_chunks": "free_chunks",
    "ofa_arena_largest_free_bytes": "largest_free",
    "ofa_arena_allocs": "allocs",
    "ofa_arena_frees": "frees",
    "ofa_arena_alloc_failures": "alloc_failures",
    "ofa_arena_align_bytes": "align",
}
DAEMON = {
    "ofa_daemon_clients": "clients",
    "ofa_daemon_arenas": "arenas",
    "ofa_daemon_reserved_bytes": "bytes_reserved",
    "ofa_daemon_limit_bytes": "bytes_limit",
}


def fail(msg):
    print("prom_check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    text = open(sys.argv[1]).read()
    stats = json.load(open(sys.argv[2]))
    arenas = {a["name"]: a for a in stats["arenas"]}
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.split()[3] == "counter":
            if not line.split()[2].endswith("_total"):
                fail("counter not named _total: " + line)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, key in ARENA.items():
        f = families.get(name)
        if f is None:
            fail("no family " + name)
        if not f.documentation:
            fail("no HELP for " + name)
        want_type = "counter" if key in ("allocs", "frees", "alloc_failures") else "gauge"
        if f.type != want_type:
            fail("%s is a %s, not a %s" % (name, f.type, want_type))
        got = {s.labels.get("arena"): s.value for s in f.samples}
        if set(got) != set(arenas):
            fail("%s: arenas %s, stats --json has %s" % (name, sorted(got), sorted(arenas)))
        for arena, value in got.items():
            if value != arenas[arena][key]:
                fail("%s{arena=%s} = %s, stats --json says %s"
                     % (name, arena, value, arenas[arena][key]))
    for name, key in DAEMON.items():
        f = families.get(name)
        if f is None or len(f.samples) != 1 or f.samples[0].value != stats["daemon"][key]:
            fail("%s differs from the daemon's %s" % (name, key))
    frag = families.get("ofa_arena_fragmentation_ratio")
    if frag is None:
        fail("no ofa_arena_fragmentation_ratio")
    for s in frag.samples:
        a = arenas[s.labels["arena"]]
        free = a["bytes_reserved"] - a["bytes_live"]
        want = 1 - a["largest_free"] / free if free > 0 else 0
        if abs(s.value - want) > 1e-5:
            fail("fragmentation of %s: %s, want %s" % (s.labels["arena"], s.value, want))
    print("prom_check: %d families, %d arenas" % (len(families), len(arenas)))


main()
