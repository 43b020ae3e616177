#!/usr/bin/env bash
# Intake benchmark (not a test): signed, unique ~3 KB invoice.payment_failed
# events from a second process on loopback, 32 keep-alive connections.
# Runs, in one session so the ratios are fair on a noisy machine:
#   1. the ceiling: an actix-web endpoint that only verifies the HMAC;
#   2. dunwell web  on SQLite (verify, parse, group-commit, answer);
#   3. dunwell serve on SQLite (the same, with the event processor draining).
# Prints requests/s, p50/p99 latency, dunwell's peak RSS and serve's share of
# what web accepted; checks that every acknowledged event is stored; and
# (serve) times the engine after the burst until every stored event is
# processed (at most CATCHUP_LIMIT seconds, default 900).
#
#   bash bench/intake.sh            # 20 s per run
#   SECONDS_PER_RUN=10 CONNECTIONS=32 bash bench/intake.sh
#   DUNWELL=/path/to/old/dunwell bash bench/intake.sh   # measure another build
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECONDS_PER_RUN:-20}
CONNS=${CONNECTIONS:-32}
SECRET=whsec_bench_$(date +%s)
OUT=bench/out
mkdir -p "$OUT"

cargo build --release --quiet --bin dunwell --example loadgen --example ceiling
BIN=target/release
DUNWELL=${DUNWELL:-$BIN/dunwell}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

load() { "$BIN/examples/loadgen" --url "http://127.0.0.1:$1/webhooks/stripe" --secret "$SECRET" --connections "$CONNS" --seconds "$SECS" --warmup 2 --prefix "$2"; }

echo "== ceiling: verify-only actix-web endpoint"
PORT=$(free_port)
"$BIN/examples/ceiling" "$PORT" "$SECRET" & PIDS+=($!)
wait_port "$PORT"
CEILING=$(load "$PORT" c)
echo "$CEILING"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# Events stored but not yet processed: the queue plus what the engine has
# not taken from the intake log yet.
backlog_of() {
    if [ ! -f "$1/dunwell.db-intake" ]; then # a build from before the intake log
        sqlite3 "$1/dunwell.db" "SELECT COUNT(*) FROM $2"
        return
    fi
    local logged="(SELECT COUNT(*) FROM intake.webhook_log WHERE seq > COALESCE((SELECT position FROM intake_cursor c JOIN intake.log_meta m ON m.key = 'log_id' AND m.value = c.log_id), 0))"
    sqlite3 "$1/dunwell.db" "ATTACH '$1/dunwell.db-intake' AS intake; SELECT (SELECT COUNT(*) FROM $2) + $logged"
}

run_dunwell() {
    local role=$1 dir port pid result rss count acked backlog catchup=- drain_rate=-
    dir=$(mktemp -d)
    port=$(free_port)
    DUNWELL_BIND=127.0.0.1:$port DUNWELL_DATABASE_URL="sqlite://$dir/dunwell.db" \
        DUNWELL_WEBHOOK_SECRETS=$SECRET DUNWELL_LOG=warn \
        "$DUNWELL" "$role" 2>"$OUT/$role.log" & pid=$!
    PIDS+=($pid)
    wait_port "$port"
    result=$(load "$port" "${role:0:1}")
    rss=$(peak_rss_mib "$pid")
    if [ "$role" = serve ]; then
        # After the burst: time the engine until it has processed everything.
        local left start=$SECONDS first
        first=$(backlog_of "$dir" event_queue)
        left=$first
        while [ "$left" -gt 0 ] && [ $((SECONDS - start)) -lt "${CATCHUP_LIMIT:-900}" ]; do
            sleep 1
            left=$(backlog_of "$dir" event_queue)
        done
        catchup=$((SECONDS - start))
        [ "$left" -gt 0 ] && catchup=">$catchup (left $left)"
        drain_rate=$(( (first - left) / (SECONDS - start > 0 ? SECONDS - start : 1) ))
        rss=$(peak_rss_mib "$pid")
    fi
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    count=$(backlog_of "$dir" webhook_events)
    backlog=$(backlog_of "$dir" event_queue)
    acked=$(field ok "$result")
    echo "$result peak_rss_mib=$rss stored=$count still_queued=$backlog catchup_s=${catchup// /_} drain_per_s=$drain_rate"
    if [ "$count" -lt "$acked" ]; then echo "LOST EVENTS: $acked acknowledged, $count stored" >&2; exit 1; fi
    rm -rf "$dir"
    eval "RESULT_${role}='$result peak_rss_mib=$rss catchup_s=${catchup// /_} drain_per_s=$drain_rate'"
}

echo "== dunwell web (SQLite)"
run_dunwell web
echo "== dunwell serve (SQLite, event processor running)"
run_dunwell serve

c_rps=$(field rps "$CEILING")
echo
w_rps=$(field rps "$RESULT_web")
printf '%-28s %10s %9s %9s %9s %11s %8s %16s\n' run events/s p50_ms p99_ms rss_MiB of_ceiling of_web "engine catch-up"
printf '%-28s %10s %9s %9s %9s %11s %8s %16s\n' "ceiling (verify only)" "$c_rps" "$(field p50_ms "$CEILING")" "$(field p99_ms "$CEILING")" - 1.00 - -
for role in web serve; do
    r=$(eval echo "\$RESULT_$role")
    rps=$(field rps "$r")
    catch=-
    [ "$role" = serve ] && catch="$(field catchup_s "$r") s @ $(field drain_per_s "$r")/s"
    printf '%-28s %10s %9s %9s %9s %11s %8s %16s\n' "dunwell $role (durable)" "$rps" "$(field p50_ms "$r")" "$(field p99_ms "$r")" "$(field peak_rss_mib "$r")" \
        "$(python3 -c "print(f'{$rps/$c_rps:.2f}')")" "$(python3 -c "print(f'{$rps/$w_rps:.2f}')")" "$catch"
done
