#!/usr/bin/env bash
# Whole-process benchmarks of the `smarthost` command (issue 21): the
# release binary against a private Postfix instance, each measure paired
# with its anchor in ONE hyperfine run, and the ratio printed.
#
#   sudo benches/whole_process.sh            # every measure
#   sudo benches/whole_process.sh change     # only the one-domain changes
#   RUNS=30 sudo benches/whole_process.sh    # more runs per command
#   BASELINE=/path/to/old/smarthost sudo benches/whole_process.sh
#                                            # an older build in the same runs
#
# Measures (the names are the arguments that select them):
#   change     one-domain change (`domain set` / `domain disable`,
#              `--reload-command true`) on 1,000 and 100,000 domains
#              vs `postmap` of the two tables it changes (full rebuilds)
#   noop       `list`, `plan`, no-op `apply` on 1,000 domains vs `postconf -n`
#   server     `server set` on a 5,000-line main.cf vs `postconf -e` of the
#              same parameters (rendered into a folder, and on the live
#              instance, where `postfix check` runs as well)
#
# Needs root, Debian's postfix, hyperfine (apt-get install -y hyperfine),
# jq and cargo. Contacts nothing: relays are 127.0.0.1 and never dialled.
# Benchmarks, not tests: .ci/run does not run this.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
SELECTED=("$@")
[ ${#SELECTED[@]} -eq 0 ] && SELECTED=(change noop server)

for tool in hyperfine jq postfix postmap postconf cargo; do
    command -v "$tool" >/dev/null || { echo "whole_process.sh: $tool is not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "whole_process.sh: a private Postfix instance needs root" >&2; exit 2; }

cargo build --release --quiet -p smarthost
BIN=$PWD/target/release/smarthost
WORK=$(mktemp -d /tmp/smarthost-bench.XXXXXX)
chmod 0755 "$WORK"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
export BENCH_PASSWORD=bench-secret-not-real

# A private, stopped instance in $1 (postfix-e2e.md's recipe). $2: extra
# main.cf text appended (the 5,000-line case).
make_instance() {
    local d=$1
    mkdir -p "$d/etc/postfix" "$d/queue" "$d/data" "$d/maps"
    chown postfix "$d/data"
    cat >"$d/etc/postfix/main.cf" <<EOF
queue_directory = $d/queue
data_directory = $d/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
compatibility_level = 3.6
myhostname = pf.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_dns_support_level = disabled
maillog_file = $d/maillog
maillog_file_prefixes = $d
EOF
    sed -e 's/^smtp      inet/#&/' /usr/share/postfix/master.cf.dist >"$d/etc/postfix/master.cf"
}

# smarthost (or $WITH, default $BIN) with the instance of $1.
sh_cmd() {
    local d=$1
    shift
    echo "${WITH:-$BIN} --config-dir $d/etc/postfix --map-dir $d/maps --reload-command true $*"
}

# The binaries measured: this build, and BASELINE when given. Commands are
# numbered: the anchor 0, then each binary's commands in turn.
BINS=("$BIN")
[ -n "${BASELINE:-}" ] && BINS+=("$BASELINE")

# A policy file of $2 domains in $1/policy.toml: a server-wide relay, the
# domains over 50 relays, every other one with its own account.
make_policy() {
    local d=$1 n=$2
    {
        printf '[server]\nrelay = "[127.0.0.1]:2525"\nencryption = "starttls"\n\n'
        awk -v n="$n" 'BEGIN {
            for (i = 0; i < n; i++) {
                printf "[domains.\"customer%d.example\"]\nrelay = \"[127.0.0.1]:%d\"\nencryption = \"starttls\"\n", i, 2600 + i % 50
                if (i % 2 == 0) printf "username = \"user%d\"\npassword_env = \"BENCH_PASSWORD\"\n", i
                printf "\n"
            }
        }'
    } >"$d/policy.toml"
}

# Every command's mean against the anchor's (command 0) in hyperfine's
# JSON export $1, with the label $2.
ratios() {
    jq -r --arg name "$2" --arg bin "$BIN" '.results[0].mean as $anchor | .results[1:][] |
        (if (.command | startswith($bin + " ")) then "this build" else "baseline" end) as $who |
        "\($name), \($who): \(.mean * 1000 | round) ms = \(.mean / $anchor * 100 | round / 100)x the anchor (\($anchor * 1000 | round) ms): \(.command | sub("^[^ ]*/smarthost "; "") | sub("--config-dir [^ ]* --map-dir [^ ]* --reload-command true "; "") | .[0:70])"' "$1"
}

selected() {
    local s
    for s in "${SELECTED[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

bench_change() {
    local n=$1 d=$WORK/change$1
    make_instance "$d"
    make_policy "$d" "$n"
    $(sh_cmd "$d" --policy "$d/policy.toml" apply) >/dev/null
    local args=() b set disable
    for b in "${BINS[@]}"; do
        set=$(WITH=$b sh_cmd "$d" domain set bench-new.example --relay '[127.0.0.1]:2601' --encryption starttls --username bench --password-env BENCH_PASSWORD)
        disable=$(WITH=$b sh_cmd "$d" domain disable bench-new.example)
        args+=(--prepare "$disable >/dev/null 2>&1 || true" "$set" --prepare "$set >/dev/null" "$disable")
    done
    echo "== one-domain change, $n domains (anchor: full postmap of the two tables)"
    hyperfine --runs "$RUNS" --warmup 2 --export-json "$WORK/change$n.json" \
        --prepare "true" "postmap -c $d/etc/postfix hash:$d/maps/sender_relay && postmap -c $d/etc/postfix hash:$d/maps/relay_secrets" \
        "${args[@]}"
    ratios "$WORK/change$n.json" "change, $n domains"
}

bench_noop() {
    local d=$WORK/noop b
    make_instance "$d"
    make_policy "$d" 1000
    $(sh_cmd "$d" --policy "$d/policy.toml" apply) >/dev/null
    local args=()
    for b in "${BINS[@]}"; do
        args+=("$(WITH=$b sh_cmd "$d" list)" "$(WITH=$b sh_cmd "$d" --policy "$d/policy.toml" plan)" "$(WITH=$b sh_cmd "$d" --policy "$d/policy.toml" apply)")
    done
    echo "== commands that change nothing, 1,000 domains (anchor: postconf -n)"
    hyperfine -N --runs "$((RUNS * 5))" --warmup 5 --export-json "$WORK/noop.json" \
        "postconf -c $d/etc/postfix -n" "${args[@]}"
    ratios "$WORK/noop.json" "no change, 1,000 domains"
}

# 4,499 parameters and 500 comment lines after the instance's own lines
# (the library bench's main_cf_of(5000)).
big_main_cf() {
    awk 'BEGIN {
        print "# a large, hand-edited main.cf"
        for (i = 0; i < 4999; i++) {
            if (i % 10 == 0) printf "# section %d\n", i
            else printf "custom_parameter_%d = value %d, more $myhostname\n", i, i
        }
    }'
}

bench_server() {
    local d=$WORK/server r=$WORK/server-root b
    make_instance "$d"
    big_main_cf >>"$d/etc/postfix/main.cf"
    cp "$d/etc/postfix/main.cf" "$WORK/main.cf.orig"
    local restore="cp $WORK/main.cf.orig $d/etc/postfix/main.cf && rm -f $d/maps/*"
    # The same file rendered into a folder: no Postfix command runs.
    local restore_root="rm -rf $r && mkdir -p $r/etc/postfix && cp $WORK/main.cf.orig $r/etc/postfix/main.cf"
    # What `server set --relay [127.0.0.1]:2525 --encryption starttls` sets.
    local params="relayhost=[127.0.0.1]:2525 smtp_tls_policy_maps=hash:$d/maps/tls_policy smtp_tls_CAfile=/etc/ssl/certs/ca-certificates.crt"
    local args=()
    for b in "${BINS[@]}"; do
        args+=(--prepare "$restore_root" "$b --root $r server set --relay [127.0.0.1]:2525 --encryption starttls")
    done
    echo "== server set on a 5,000-line main.cf, rendered into a folder (anchor: postconf -e of the same parameters)"
    hyperfine --runs "$RUNS" --warmup 2 --export-json "$WORK/server.json" \
        --prepare "$restore" "postconf -c $d/etc/postfix -e $params" "${args[@]}"
    ratios "$WORK/server.json" "server set, rendered"
    # Live, `postfix check` runs too (main.cf changed): fewer runs.
    args=()
    for b in "${BINS[@]}"; do
        args+=(--prepare "$restore" "$(WITH=$b sh_cmd "$d" server set --relay '[127.0.0.1]:2525' --encryption starttls)")
    done
    echo "== server set on a 5,000-line main.cf, live instance with postfix check (anchor: postconf -e)"
    hyperfine --runs 3 --warmup 1 --export-json "$WORK/server-live.json" \
        --prepare "$restore" "postconf -c $d/etc/postfix -e $params" "${args[@]}"
    ratios "$WORK/server-live.json" "server set, live"
}

if selected change; then
    bench_change 1000
    bench_change 100000
fi
if selected noop; then bench_noop; fi
if selected server; then bench_server; fi
