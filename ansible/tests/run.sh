#!/usr/bin/env bash
# Runs the Ansible module end to end: first run changes, second run changes
# nothing, check mode after a policy change reports a change and writes
# nothing, a bad relay fails with the tool's message, and no secret appears
# in any output (-vvv included). Needs ansible (with ansible.posix) on PATH
# and the smarthost binary given as $1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$(realpath "$1")"
export ANSIBLE_COLLECTIONS_PATH="$here/.."
export ANSIBLE_STDOUT_CALLBACK=ansible.posix.json
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1
root="$(mktemp -d)"
routing_root="$(mktemp -d)"
out="$(mktemp -d)"
trap 'rm -rf "$root" "$routing_root" "$out"' EXIT

play() { # name, extra ansible-playbook arguments...
  local name="$1"; shift
  ansible-playbook -i localhost, "$here/playbook.yml" -e "@$here/secrets.yml" \
    -e "smarthost_binary=$binary" -e "root=$root" -e "ansible_python_interpreter=$(command -v python3)" "$@" > "$out/$name.json" 2> "$out/$name.err" || true
}
routing() { # name, extra ansible-playbook arguments... (routing.yml, its own root)
  local name="$1"; shift
  ansible-playbook -i localhost, "$here/routing.yml" -e "@$here/secrets.yml" \
    -e "smarthost_binary=$binary" -e "root=$routing_root" -e "ansible_python_interpreter=$(command -v python3)" "$@" > "$out/$name.json" 2> "$out/$name.err" || true
}
snapshot() { (cd "$root" && find . -type f ! -name '.smarthost.lock' ! -name '*.smarthost-backup' -exec sha256sum {} + | sort); }

play first -vvv
cp "$root/etc/postfix/main.cf" "$out/main.cf.first" 2>/dev/null || true
play second
before="$(snapshot)"
play check --check --diff -e 'relay=[smtp.mailgun.org]:587'
after="$(snapshot)"
play bad -e '{"relay": "bad host"}'
# SmarterMail: the URL and the administrator's password reach the binary
# (a closed port on this machine answers), the password only through the
# environment, and it shows nowhere.
play smartermail -e backend=smartermail -e live=true -e url=http://127.0.0.1:9 -e admin_password=sm-admin-secret-5b2f
# Routing rules (issue 17): a direct exception with a relay as well is
# refused naming the field, writing nothing; then every rule is applied,
# read back with `smarthost list`, and applied again without a change.
# The read-back and idempotence checks need a Postfix backend that writes
# the routing rules.
routing routing-bad -e '{"extra_domain": {"relay": "[smtp.example.net]:587"}}'
find "$routing_root" -type f ! -name '.smarthost.lock' > "$out/routing-bad.files"
routing routing-first -vvv
routing routing-second
"$binary" --root "$routing_root" --json list > "$out/routing-list.json" 2>&1 || true

python3 - "$out" "$root" "$before" "$after" "$routing_root" <<'PY'
import json, pathlib, sys
out, root, before, after, routing_root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
secrets = ["SG.ansible-test-secret-7c1d", "mg-ansible-test-secret-3e9a", "sm-admin-secret-5b2f"]
failures = []
checks = 0
def check(ok, what):
    global checks
    checks += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
def result(name):
    text = (out / (name + ".json")).read_text()
    # With -vvv, Ansible's own lines come before the callback's JSON.
    start = text.index("\n{\n") + 1 if not text.startswith("{") else 0
    data = json.loads(text[start:])
    stats = data["stats"]["localhost"]
    task = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return stats, task
for name in ["first", "second", "check", "bad", "smartermail", "routing-bad", "routing-first", "routing-second"]:
    text = (out / (name + ".json")).read_text() + (out / (name + ".err")).read_text()
    check(not any(s in text for s in secrets), name + ": no secret in the output")
stats, task = result("first")
check(stats["changed"] == 1 and stats["failures"] == 0, "first run: changed")
main_cf = (out / "main.cf.first").read_text() if (out / "main.cf.first").exists() else ""
check("relayhost = [smtp.sendgrid.net]:587" in main_cf, "first run: main.cf written")
check((root / "var/spool/postfix/plesk/relay_secrets").exists(), "first run: maps written")
stats, task = result("second")
check(stats["changed"] == 0 and stats["failures"] == 0, "second run: changed=0")
stats, task = result("check")
check(stats["changed"] == 1 and stats["failures"] == 0, "check mode after a change: changed")
check(before == after, "check mode: nothing written")
check("smtp.mailgun.org" in task.get("diff", [{}])[0].get("prepared", "") if isinstance(task.get("diff"), list) else "smtp.mailgun.org" in task.get("diff", {}).get("prepared", ""), "check mode: the diff shows the change")
stats, task = result("bad")
check(stats["failures"] == 1, "bad relay: the task fails")
check((root / "etc/postfix/main.cf").read_text() == main_cf, "bad relay: nothing written")
check('relay: "bad host" is invalid: contains whitespace' in task.get("msg", ""), "bad relay: the tool's message: " + task.get("msg", "")[:120])
stats, task = result("smartermail")
msg = task.get("msg", "")
# Only a live --url target gets this far: the binary tried the server (or
# refused names it does not confirm), after reading the password from
# SMARTERMAIL_PASSWORD (without it, it stops at that).
check(stats["failures"] == 1 and ("Connection refused" in msg or "not confirmed by this server" in msg),
      "smartermail: the binary was given the URL: " + msg[:160])
check("SMARTERMAIL_PASSWORD" not in msg, "smartermail: and the administrator's password: " + msg[:160])
stats, task = result("routing-bad")
msg = task.get("msg", "")
check(stats["failures"] == 1 and 'domains."intranet.example.com"' in msg and "direct" in msg,
      "routing: a direct exception with a relay fails naming the field: " + msg[:160])
check((out / "routing-bad.files").read_text() == "", "routing: the refused task wrote nothing")
stats, task = result("routing-first")
check(stats["changed"] == 1 and stats["failures"] == 0, "routing: first run changed: " + task.get("msg", "")[:160])
stats, task = result("routing-second")
check(stats["changed"] == 0 and stats["failures"] == 0, "routing: second run changed=0")
try:
    listed_text = (out / "routing-list.json").read_text()
    check(not any(s in listed_text for s in secrets), "routing: no secret in list")
    listed = json.loads(listed_text)
except ValueError:
    listed = {}
check(listed.get("server", {}).get("backups") == ["[smtp2.example.net]:587", "[192.0.2.9]:2525"], "routing: backups read back")
check(listed.get("direct") == ["intranet.example.com"], "routing: direct exception read back")
check(listed.get("mailboxes", {}).get("alice@shop.example.com", {}).get("credentials", {}).get("password") == "<redacted>",
      "routing: mailbox read back, password redacted")
check(listed.get("recipients", {}).get("partner.example", {}).get("relay") == "[mx.partner.example]:25"
      and listed.get("direct_recipients") == ["gmail.example"], "routing: recipient routes read back")
check(listed.get("bounces", {}).get("relay") == "[bounces.example.net]:587" if isinstance(listed.get("bounces"), dict) else False,
      "routing: bounce relay read back")
print("ansible: %d passed, %d failed" % (checks - len(failures), len(failures)))
sys.exit(1 if failures else 0)
PY
