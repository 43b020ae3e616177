#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of everything that
# reads input from outside: the Stripe-Signature header, the event envelope,
# every typed event, link tokens and the policy TOML. Not a test: run it for
# minutes or hours; findings land in fuzz/artifacts/<target>/ and each fixed
# one gets a regression test. New inputs that reach new code are kept in
# fuzz/corpus/<target>/ (minimised at the end), which is committed.
#
#   bash bench/fuzz.sh                 # every target, 5 minutes each
#   bash bench/fuzz.sh 30 typed_events # one target, 30 minutes
#
# cargo-fuzz wants nightly; this machine has the stable toolchain only, so
# RUSTC_BOOTSTRAP=1 lets stable take the -Z flags it passes. No sanitizer
# (-s none): the code under test is safe Rust, and it runs several times
# faster; a panic or an abort is what we are after.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${1:-5}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(signature_header envelope typed_events link_token policy_toml)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

# Seeds: the recorded events of both API versions, and the shipped policy.
seed() {
    local dir=fuzz/corpus/$1
    mkdir -p "$dir"
    case $1 in
    envelope | typed_events) cp tests/fixtures/basil/*.json tests/fixtures/legacy/*.json "$dir"/ 2>/dev/null || true ;;
    policy_toml) [ -f dunwell.example.toml ] && cp dunwell.example.toml "$dir/example.toml" || true ;;
    esac
}

status=0
for target in "${TARGETS[@]}"; do
    seed "$target"
    echo "== $target: $MINUTES min"
    if ! cargo fuzz run -s none "$target" "fuzz/corpus/$target" -- \
        -max_total_time=$((MINUTES * 60)) -max_len=65536 -print_final_stats=1 2>&1 |
        grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|thread '|panicked|Test unit written)" ; then
        :
    fi
    if ls "fuzz/artifacts/$target"/crash-* >/dev/null 2>&1; then
        echo "FINDINGS in fuzz/artifacts/$target" >&2
        status=1
    fi
    cargo fuzz cmin -s none "$target" "fuzz/corpus/$target" >/dev/null 2>&1 || true
done
exit $status
