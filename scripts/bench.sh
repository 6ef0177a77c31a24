#!/usr/bin/env bash
# Regenerates the real-socket tables of docs/performance.md (between
# <!-- bench:start --> and <!-- bench:end -->) from `switchboard bench compare`.
#
#   scripts/bench.sh                      # 30 s runs (10k idle sockets held 30 s)
#   BENCH_QUICK=1 scripts/bench.sh        # 5 s runs
#   BENCH_SCENARIOS="idle fanout-1k-20" scripts/bench.sh
#   IPE_BIN=/path/to/ipe scripts/bench.sh # add ipe (left out when unset)
#
# The tables of the scenarios run this time are replaced; those of the others
# are kept, and every table says when it was measured.
# Scenarios: idle fanout-1k-20 fanout-5k-4 fanout-5k-20 channels publish.
# Servers are pinned to CPU 0, the load generator to CPU 1; every scenario
# runs 3 interleaved rounds on a fresh server process each. Binaries, logs and
# JSONL results go to a temporary directory outside the repository (kept, its
# path is printed). Not part of .ci/run: it needs a quiet machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${BENCH_SHARED:-$ROOT/../shared/bench}
DOC=${BENCH_DOC:-$ROOT/docs/performance.md}   # BENCH_DOC: write elsewhere (testing)
RUNS=${BENCH_RUNS:-3}
ALL="idle fanout-1k-20 fanout-5k-4 fanout-5k-20 channels publish"
SCENARIOS=${BENCH_SCENARIOS:-$ALL}
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then DUR=5s; else DUR=30s; fi

for s in $SCENARIOS; do
  case " $ALL " in *" $s "*) ;; *) echo "unknown scenario: $s (known: $ALL)" >&2; exit 2 ;; esac
done
grep -q '<!-- bench:start -->' "$DOC" && grep -q '<!-- bench:end -->' "$DOC" \
  || { echo "$DOC lacks the bench markers" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
echo "work dir: $WORK" >&2
BIN=$WORK/bin; LOGS=$WORK/logs; OUT=$WORK/results
mkdir -p "$BIN" "$LOGS" "$OUT"

(cd "$ROOT" && go build -o "$BIN/switchboard" ./cmd/switchboard)
(cd "$SHARED/baseline" && go build -o "$BIN/baseline" .)
SB=$BIN/switchboard

# free_port: a loopback TCP port nobody listens on now (the kernel picks it).
# compare checks again before starting a server and refuses a busy port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

scenario_flags() {
  case "$1" in
    idle)         echo "--scenario connections --sockets 10000 --hold $DUR" ;;
    fanout-1k-20) echo "--scenario fanout --subs 1000 --rate 20 --publishers 1 --duration $DUR" ;;
    fanout-5k-4)  echo "--scenario fanout --subs 5000 --rate 4 --publishers 1 --duration $DUR" ;;
    fanout-5k-20) echo "--scenario fanout --subs 5000 --rate 20 --duration $DUR" ;;
    channels)     echo "--scenario channels --channels 2000 --subs-per-channel 2 --rate 1000 --duration $DUR" ;;
    publish)      echo "--scenario publish --concurrency 32 --subs 5 --duration $DUR" ;;
  esac
}

CMDS=$OUT/commands.tsv
: > "$CMDS"
for s in $SCENARIOS; do
  p1=$(free_port); p2=$(free_port)
  while [[ "$p2" == "$p1" ]]; do p2=$(free_port); done
  servers=(--server "name=switchboard,cmd=$SB serve --host 127.0.0.1 --port $p1 --log-level warn,port=$p1"
           --server "name=baseline,cmd=$BIN/baseline -addr 127.0.0.1:$p2,port=$p2,baseline=true")
  if [[ -n "${IPE_BIN:-}" ]]; then
    p3=$(free_port)
    while [[ "$p3" == "$p1" || "$p3" == "$p2" ]]; do p3=$(free_port); done
    yml=$WORK/ipe-$s.yml
    sed -E "0,/^host:/s|^host:.*|host: \"127.0.0.1:$p3\"|" "$SHARED/ipe.yml" > "$yml"
    servers+=(--server "name=ipe,cmd=$IPE_BIN -config $yml -logtostderr,port=$p3")
  fi
  # shellcheck disable=SC2207
  flags=($(scenario_flags "$s"))
  cmd=("$SB" bench compare "${flags[@]}" --runs "$RUNS" "${servers[@]}"
       --reference baseline --taskset-server 0 --taskset-client 1
       --log-dir "$LOGS" --out "$OUT/$s.jsonl" --quiet)
  # the exact command, with the temporary directory written as $WORK
  line=""
  for a in "${cmd[@]}"; do
    a=${a//$WORK/\$WORK}
    if [[ "$a" == *" "* || "$a" == *'$'* ]]; then line+=" '$a'"; else line+=" $a"; fi
  done
  printf '%s\t%s\n' "$s" "${line# }" >> "$CMDS"
  echo "== $s: ${cmd[*]}" >&2
  "${cmd[@]}" > "$OUT/$s.txt"
  tail -n 25 "$OUT/$s.txt" >&2
done

MACHINE="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
DATE=$(date -u +'%Y-%m-%d %H:%M UTC')

python3 - "$DOC" "$OUT" "$CMDS" "$MACHINE" "$DATE" "$DUR" "$RUNS" <<'PY'
import json, os, statistics, sys
doc, out, cmds, machine, date, dur, runs = sys.argv[1:]
commands = dict(l.rstrip("\n").split("\t", 1) for l in open(cmds) if l.strip())

def get(r, path):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r: return None
        r = r[k]
    return r

TITLES = {
  "idle": "10,000 idle sockets",
  "fanout-1k-20": "fan-out 1 channel × 1,000 subs at 20 events/s (`--publishers 1`)",
  "fanout-5k-4": "fan-out 1 channel × 5,000 subs at 4 events/s (`--publishers 1`)",
  "fanout-5k-20": "fan-out 1 channel × 5,000 subs at 20 events/s (100k msg/s offered)",
  "channels": "2,000 channels × 2 subs at 1,000 signed publishes/s",
  "publish": "signed HTTP publish throughput (32 in flight, 5 subscribers; baseline unsigned)",
}
# (label, metric path, format, target check on (sb, base) or None, target text)
F = lambda v: "{:,}".format(v) if isinstance(v, int) else ("%.2f" % v if abs(v) < 100 else "{:,.0f}".format(v))
ROWS = {
  "idle": [("sockets", "counts.sockets", None, ""), ("connect failures", "counts.connect_failures", None, ""),
           ("drops while held", "counts.drops", None, ""), ("connects/s", "rates.connects_per_s", None, ""),
           ("RSS KiB per socket", "server.rss_kib_per_socket", lambda s, b: s <= 1.1 * b, "≤ 1.1×")],
  "fanout": [("delivered/s", "rates.delivered_per_s", None, ""), ("lost", "counts.lost", None, ""),
             ("publish skipped", "counts.publish_skipped", None, ""),
             ("latency p50 ms", "latency_ms.p50", None, ""),
             ("latency p99 ms", "latency_ms.p99", lambda s, b: s <= b, "≤ 1.0×"),
             ("HTTP publish p50 ms", "publish_latency_ms.p50", None, ""),
             ("server µs CPU per delivered msg", "server.cpu_us_per_msg", lambda s, b: s <= b, "≤ 1.0×"),
             ("load generator CPU (of 1 core)", "loadgen.cpu_util", None, "")],
  "fanout-5k-20": [("delivered/s", "rates.delivered_per_s", None, ""),
             ("delivered % of expected", "_delivered_pct", lambda s, b: s >= 99.0, "≥ 99 %"),
             ("lost", "counts.lost", lambda s, b: s == 0, "0"),
             ("publish skipped", "counts.publish_skipped", None, ""),
             ("latency p50 ms", "latency_ms.p50", None, ""),
             ("latency p99 ms", "latency_ms.p99", lambda s, b: s <= 0.25 * b, "≤ 0.25×"),
             ("server µs CPU per delivered msg", "server.cpu_us_per_msg", None, ""),
             ("load generator CPU (of 1 core)", "loadgen.cpu_util", None, "")],
  "channels": [("delivered/s", "rates.delivered_per_s", None, ""), ("lost", "counts.lost", None, ""),
             ("latency p50 ms", "latency_ms.p50", None, ""),
             ("latency p99 ms", "latency_ms.p99", lambda s, b: s <= 2.0, "≤ 2 ms"),
             ("server µs CPU per publish", "server.cpu_us_per_publish", lambda s, b: s <= b, "≤ 1.0×"),
             ("load generator CPU (of 1 core)", "loadgen.cpu_util", None, "")],
  "publish": [("publishes/s", "rates.publish_per_s", None, ""), ("publish errors", "counts.publish_errors", None, ""),
             ("HTTP publish p50 / p99 ms", "publish_latency_ms.p50", None, ""),
             ("", "publish_latency_ms.p99", None, ""),
             ("server µs CPU per request", "server.cpu_us_per_publish", lambda s, b: s <= 1.2 * b, "≤ 1.2×"),
             ("load generator CPU (of 1 core)", "loadgen.cpu_util", None, "")],
}
ROWS["fanout-1k-20"] = ROWS["fanout-5k-4"] = ROWS["fanout"]

parts = []
for s in ["idle", "fanout-1k-20", "fanout-5k-4", "fanout-5k-20", "channels", "publish"]:
    path = os.path.join(out, s + ".jsonl")
    if not os.path.exists(path): continue
    by = {}
    for line in open(path):
        r = json.loads(line)
        c = r.get("counts", {})
        if c.get("expected"): r["_delivered_pct"] = 100.0 * c.get("received", 0) / c["expected"]
        by.setdefault(r["compare"]["server"], []).append(r)
    names = [n for n in ("switchboard", "baseline", "ipe") if n in by]
    def med(n, p):
        v = [get(r, p) for r in by.get(n, [])]
        v = [x for x in v if x is not None]
        return statistics.median(v) if v else None
    hdr = "| %s | %s | Switchboard ÷ baseline%s | target |" % (
        "medians of %d runs" % max(len(v) for v in by.values()),
        " | ".join({"switchboard": "Switchboard", "baseline": "baseline", "ipe": "ipe"}[n] for n in names),
        " | ipe ÷ baseline" if "ipe" in names else "")
    lines = ["#### " + TITLES[s], "", "_Measured %s: %s runs of %s._" % (date, runs, dur), "",
             hdr, "|" + " --- |" * (hdr.count("|") - 1)]
    for label, p, check, ttext in ROWS[s]:
        if not label: continue
        vals = {n: med(n, p) for n in names}
        if p == "publish_latency_ms.p50" and s == "publish":
            v99 = {n: med(n, "publish_latency_ms.p99") for n in names}
            cell = lambda n: "—" if vals[n] is None else "%s / %s" % (F(vals[n]), F(v99[n]) if v99[n] is not None else "—")
        else:
            cell = lambda n: "—" if vals[n] is None else F(vals[n])
        b = vals.get("baseline")
        ratio = lambda n: ("%.2f" % (vals[n] / b)) if (b and vals.get(n) is not None) else "—"
        verdict = ttext
        if check and vals.get("switchboard") is not None and b is not None:
            verdict += " ✓" if check(vals["switchboard"], b) else " ✗"
        row = "| %s | %s | %s%s | %s |" % (label, " | ".join(cell(n) for n in names), ratio("switchboard"),
                                          (" | " + ratio("ipe")) if "ipe" in names else "", verdict)
        lines.append(row)
    lines += ["", "```sh", commands.get(s, ""), "```", ""]
    parts.append((s, "\n".join(lines)))

text = open(doc).read()
a = text.index("<!-- bench:start -->"); z = text.index("<!-- bench:end -->") + len("<!-- bench:end -->")
# Tables of scenarios not run this time stay, with when they were measured
# (from the block's old header when they do not say it themselves).
import re
old = text[a:z].replace("<!-- bench:end -->", "")
m = re.search(r"Generated (\S+ \S+ UTC) by `scripts/bench.sh`: (\d+) runs of (\S+) per server", old)
old_stamp = "_Measured %s: %s runs of %s._" % m.groups() if m else "_Measured in an earlier run._"
kept = {}
for chunk in re.split(r"(?m)^(?=#### )", old):
    if not chunk.startswith("#### "): continue
    title, rest = chunk.split("\n", 1)
    rest = rest.strip("\n")
    if not rest.startswith("_Measured "): rest = old_stamp + "\n\n" + rest
    kept[title[5:]] = "%s\n\n%s\n" % (title, rest)
new = dict(parts)
sections = []
for s in ["idle", "fanout-1k-20", "fanout-5k-4", "fanout-5k-20", "channels", "publish"]:
    if s in new: sections.append(new[s])
    elif TITLES[s] in kept: sections.append(kept[TITLES[s]])
body = ("<!-- bench:start -->\n<!-- generated by scripts/bench.sh; edit the script, not this block -->\n"
        "Generated by `scripts/bench.sh`, last on %s (%s); a run of some scenarios keeps the other tables, "
        "and each table says when it was measured. Runs interleaved (A B A B …), "
        "fresh server each run, server on CPU 0 and load generator on CPU 1, 128-byte payloads, loopback. "
        "Machine: %s.\n\n" % (date, ", ".join(s for s, _ in parts), machine) + "\n".join(sections) + "<!-- bench:end -->")
open(doc, "w").write(text[:a] + body + text[z:])
print("rewrote", doc, file=sys.stderr)
PY
