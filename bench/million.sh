#!/usr/bin/env bash
# Million-case benchmark (not a test). Seeds a SQLite database with CASES
# cases (default 1,000,000: templates played through the real intake, events
# and jobs over 30 engine days, then copied; see bench/seed.rs), starts
# `dunwell serve` on it, and prints:
#   - the seeded database: cases by state, size per case and per table;
#   - p50/p99/max of the due-work lookup and of the operator's reads
#     (/api/cases pages and filters, /api/cases/{id}, /api/stats, /metrics);
#   - the query plans of those reads (EXPLAIN QUERY PLAN);
#   - serve's peak RSS over its start and all those reads.
#
#   bash bench/million.sh                       # 1,000,000 cases (~20 GB, ~10 min)
#   CASES=50000 bash bench/million.sh
#   DB=/path/seeded.db bash bench/million.sh    # reuse a seeded file
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=${CASES:-1000000}
REQUESTS=${REQUESTS:-200}
cargo build --release --quiet --bin dunwell --example seed --example lookups
BIN=target/release
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

if [ -z "${DB:-}" ]; then
    DIR=$(mktemp -d)
    DB=$DIR/dunwell.db
    trap 'rm -rf "$DIR"' EXIT
    echo "== seeding $CASES cases into $DB"
    "$BIN/examples/seed" --database "$DB" --cases "$CASES"
fi

echo
echo "== dunwell serve on the seeded database"
PORT=$(free_port)
TOKEN=bench-admin-token-$(date +%s)
DUNWELL_BIND=127.0.0.1:$PORT DUNWELL_DATABASE_URL="sqlite://$DB" DUNWELL_ADMIN_TOKEN=$TOKEN \
    DUNWELL_WEBHOOK_SECRETS=whsec_bench_million DUNWELL_LOG=warn \
    "$BIN/dunwell" serve >"$DB.serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true; rm -rf "${DIR:-/nonexistent}"' EXIT
wait_port "$PORT"
"$BIN/examples/lookups" --url "http://127.0.0.1:$PORT" --token "$TOKEN" --database "$DB" --requests "$REQUESTS"
echo "serve peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVE/status") (now $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVE/status"))"
kill $SERVE; wait $SERVE 2>/dev/null || true

echo
echo "== query plans"
plan() { echo "-- $1"; sqlite3 "$DB" "EXPLAIN QUERY PLAN $2" | sed 's/^/   /'; }
plan "due work" "SELECT id FROM case_work WHERE status = 'pending' AND due_at <= 1 AND (lease_until IS NULL OR lease_until < 1) ORDER BY due_at, id LIMIT 100"
plan "case list, first page" "SELECT id FROM cases WHERE state IS NOT NULL ORDER BY opened_at DESC, id DESC LIMIT 50"
plan "case list by state" "SELECT id FROM cases WHERE state IS NOT NULL AND state = 'recovered' ORDER BY opened_at DESC, id DESC LIMIT 50"
plan "case list by email" "SELECT id FROM cases WHERE state IS NOT NULL AND customer_email = 'x' ORDER BY opened_at DESC, id DESC LIMIT 50"
plan "a case's timeline" "SELECT id FROM case_timeline WHERE case_id = 1 ORDER BY id"
plan "statistics, whole days" "SELECT SUM(cases) FROM case_counts_daily WHERE day >= 1 AND day < 2 GROUP BY currency, state, decline_category, decline_code, recovered_by, recovered_on_retry"
plan "statistics, whole hours at the ends" "SELECT SUM(cases) FROM case_counts WHERE hour >= 1 AND hour < 2 GROUP BY currency, state, decline_category, decline_code, recovered_by, recovered_on_retry"
plan "statistics, the partial hours at the ends" "SELECT COUNT(*) FROM cases WHERE state IS NOT NULL AND opened_at >= 1 AND opened_at < 2 GROUP BY currency, state"
plan "learned retry outcomes" "SELECT decline_category, decline_code, timezone, hour, SUM(tries), SUM(paid) FROM retry_outcomes WHERE hour >= 1 GROUP BY decline_category, decline_code, timezone, hour"
