#!/usr/bin/env bash
# A policy file of N domains, no-op `apply` (issue 21): the release
# `smarthost` binary rendering into a folder (--root: no postconf, no
# postmap, no reload), paired in one hyperfine run with its anchor, a full
# `postmap` of one N-entry table (the sender_relay table it wrote); then the
# peak memory (maximum resident set, GNU time) of one more no-op apply.
#
#   benches/policy_scale.sh                     # 1k, 10k, 100k, 1M domains
#   SIZES="100000" RUNS=10 benches/policy_scale.sh
#   BASELINE=/path/to/older/smarthost benches/policy_scale.sh
#                                # an older build in the same hyperfine runs
#
# Needs Debian's postfix (postmap), hyperfine, jq, GNU time and cargo.
# Contacts nothing. Benchmarks, not tests: .ci/run does not run this.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
SIZES=${SIZES:-"1000 10000 100000 1000000"}
for tool in hyperfine jq postmap cargo /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "policy_scale.sh: $tool is not installed" >&2; exit 2; }
done
cargo build --release --quiet -p smarthost
BIN=$PWD/target/release/smarthost
WORK=$(mktemp -d /tmp/smarthost-scale.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export BENCH_PASSWORD=bench-secret-not-real
# postmap reads a main.cf: a minimal one of its own.
mkdir -p "$WORK/postfix"
printf 'compatibility_level = 3.6\n' > "$WORK/postfix/main.cf"

printf '| domains | policy file | no-op apply (mean) | postmap of one table (mean) | ratio | peak memory (no-op apply) | baseline: no-op apply, ratio, peak memory |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for n in $SIZES; do
    dir=$WORK/$n
    mkdir -p "$dir"
    # A server relay and N domains over 50 relays, every other one with its
    # own account (one password variable for all: read once).
    awk -v n="$n" 'BEGIN {
        print "[server]\nrelay = \"[smtp.server.example]:587\"\nusername = \"server\"\npassword_env = \"BENCH_PASSWORD\"\n"
        for (i = 0; i < n; i++) {
            printf "[domains.\"customer%d.example\"]\nrelay = \"[relay%d.example.net]:587\"\n", i, i % 50
            if (i % 2 == 0) printf "username = \"user%d@customer%d.example\"\npassword_env = \"BENCH_PASSWORD\"\n", i, i
            print ""
        }
    }' > "$dir/policy.toml"
    "$BIN" --root "$dir/root" --policy "$dir/policy.toml" apply > /dev/null 2>&1
    table=$dir/root/var/spool/postfix/plesk/sender_relay
    cp "$table" "$dir/anchor"
    commands=("$BIN --root $dir/root --policy $dir/policy.toml apply" "postmap -c $WORK/postfix hash:$dir/anchor")
    [ -n "${BASELINE:-}" ] && commands+=("$BASELINE --root $dir/root --policy $dir/policy.toml apply")
    hyperfine --runs "$RUNS" --warmup 1 -N --export-json "$dir/h.json" "${commands[@]}" > /dev/null 2>&1
    apply=$(jq '.results[0].mean' "$dir/h.json")
    anchor=$(jq '.results[1].mean' "$dir/h.json")
    /usr/bin/time -f '%M' -o "$dir/peak" "$BIN" --root "$dir/root" --policy "$dir/policy.toml" apply > /dev/null 2>&1
    peak=$(tail -1 "$dir/peak")
    size=$(stat -c %s "$dir/policy.toml")
    base="-"
    if [ -n "${BASELINE:-}" ]; then
        /usr/bin/time -f '%M' -o "$dir/peak0" "$BASELINE" --root "$dir/root" --policy "$dir/policy.toml" apply > /dev/null 2>&1
        base=$(awk -v b="$(jq '.results[2].mean' "$dir/h.json")" -v p="$anchor" -v k="$(tail -1 "$dir/peak0")" \
            'BEGIN { printf "%.1f ms, %.2fx, %d MiB", b * 1000, b / p, k / 1024 }')
    fi
    awk -v n="$n" -v s="$size" -v a="$apply" -v p="$anchor" -v k="$peak" -v b="$base" 'BEGIN {
        printf "| %d | %.1f MB | %.1f ms | %.1f ms | %.2fx | %d MiB | %s |\n", n, s / 1e6, a * 1000, p * 1000, a / p, k / 1024, b }'
    rm -rf "$dir"
done
