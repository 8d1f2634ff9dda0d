#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) smarthost developers
# MIT License or Apache License 2.0, at your option (see LICENSE): the license
# of the whole smarthost project, chosen instead of the GNU GPL v3 that
# Ansible's own modules carry; tests/sanity/ignore-*.txt records that choice.
# SPDX-License-Identifier: MIT OR Apache-2.0
# The logic is in the smarthost binary; this module only translates task
# arguments into a policy file and the binary's JSON into Ansible's result.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: smarthost
short_description: Configure a smarthost (relay host) for a mail server
version_added: 0.1.0
description:
  - Writes the server-wide and per-domain smarthosts with the C(smarthost) binary, which must be installed on the target.
  - "Also the routing rules: direct exceptions (O(domains[].direct)), backup relays (O(server.backup_relays) and in every other smarthost),
    per-mailbox smarthosts (O(mailboxes)), routes by recipient domain (O(recipients)) and the path of bounces (O(bounces)).
    Only the Postfix backend writes them; MailEnable and SmarterMail refuse them."
  - Check mode plans and writes nothing. Diff mode shows the redacted diff. Passwords never appear in the result.
options:
  binary:
    description: Path of the smarthost binary.
    type: path
    default: smarthost
  backend:
    description: The mail server.
    type: str
    default: postfix
    choices: [postfix, mailenable, smartermail]
  root:
    description: Render into this folder instead of the live system (no postmap, no reload).
    type: path
  config_dir:
    description: Postfix configuration folder (a second instance).
    type: path
  map_dir:
    description: Folder of the lookup tables, as Postfix sees it.
    type: path
  map_type:
    description: Lookup table type (default from postconf -m).
    type: str
    choices: [hash, lmdb, texthash]
  url:
    description:
      - SmarterMail only, the server's URL, e.g. C(https://mail.example.com).
      - The module talks to SmarterMail's web API from the host it runs on, so it need not run on the Windows server itself (see the notes).
    type: str
  admin_user:
    description: SmarterMail only, the system administrator's user name.
    type: str
    default: admin
  admin_password:
    description:
      - SmarterMail only, the system administrator's password.
      - Passed to the binary in its environment (C(SMARTERMAIL_PASSWORD)), never on its command line. Use a no_log variable or a vault.
    type: str
  reload:
    description: Reload the mail server after a change.
    type: bool
    default: true
  server:
    description: The server-wide smarthost; omit for none.
    type: dict
    suboptions: &smarthost
      relay:
        description: "Relay: host, host:port, [host]:port or an IP address. Required unless provider is given."
        type: str
      provider:
        description: A provider preset (sendgrid, mailgun-eu, amazon-ses:eu-west-1, ...).
        type: str
      encryption:
        description: none, starttls or implicit-tls.
        type: str
        choices: [none, starttls, implicit-tls]
      username:
        description: SMTP AUTH user name.
        type: str
      password:
        description: SMTP AUTH password or API key. Use a no_log variable or a vault.
        type: str
      backup_relays:
        description: Backup relays, tried in this order when the relay cannot be reached, with the same encryption and credentials.
        type: list
        elements: str
  domains:
    description: Smarthosts of hosted domains; domains not listed have none.
    type: list
    elements: dict
    default: []
    suboptions:
      domain:
        description: The hosted domain.
        type: str
        required: true
      relay:
        description: As for server.
        type: str
      provider:
        description: As for server.
        type: str
      encryption:
        description: As for server.
        type: str
        choices: [none, starttls, implicit-tls]
      username:
        description: As for server.
        type: str
      password:
        description: As for server.
        type: str
      backup_relays:
        description: As for server.
        type: list
        elements: str
      direct:
        description:
          - A direct exception instead of a relay, the domain's mail is delivered directly although there is a server-wide smarthost.
          - Give no relay options with it.
        type: bool
        default: false
  mailboxes:
    description: Smarthosts of single sender addresses (they win over their domain's); addresses not listed have none.
    type: list
    elements: dict
    default: []
    suboptions:
      address:
        description: The whole address, e.g. C(alice@example.com).
        type: str
        required: true
      relay:
        description: As for server.
        type: str
      provider:
        description: As for server.
        type: str
      encryption:
        description: As for server.
        type: str
        choices: [none, starttls, implicit-tls]
      username:
        description: As for server.
        type: str
      password:
        description: As for server.
        type: str
      backup_relays:
        description: As for server.
        type: list
        elements: str
  recipients:
    description: Routes of mail to a recipient domain, whoever sends it (they win over every sender rule); domains not listed have none.
    type: list
    elements: dict
    default: []
    suboptions:
      domain:
        description: The recipient domain.
        type: str
        required: true
      relay:
        description: As for server.
        type: str
      provider:
        description: As for server.
        type: str
      encryption:
        description: As for server.
        type: str
        choices: [none, starttls, implicit-tls]
      username:
        description: As for server.
        type: str
      password:
        description: As for server.
        type: str
      backup_relays:
        description: As for server.
        type: list
        elements: str
      direct:
        description: Deliver mail to this domain directly, instead of through a relay. Give no relay options with it.
        type: bool
        default: false
  bounces:
    description:
      - The path of bounces (the null sender).
      - V(server) like any sender without a rule of its own, V(direct) directly, V(relay) through O(bounce_relay).
    type: str
    default: server
    choices: [server, direct, relay]
  bounce_relay:
    description: The relay of bounces, with O(bounces=relay); its options are those of O(server).
    type: dict
    suboptions:
      relay:
        description: As for server.
        type: str
      provider:
        description: As for server.
        type: str
      encryption:
        description: As for server.
        type: str
        choices: [none, starttls, implicit-tls]
      username:
        description: As for server.
        type: str
      password:
        description: As for server.
        type: str
      backup_relays:
        description: As for server.
        type: list
        elements: str
  features:
    description: "Feature settings: {server: {enabled, check_certificate}, domain: {...}}."
    type: dict
notes:
  - This is a Python module, so its target must run Python; a Windows server cannot be its target.
  - "For SmarterMail, run it on a Linux host (for example C(delegate_to: localhost)) with O(url) pointing to the SmarterMail server;
    run C(smarthost smartermail learn) against that server first (see docs/backends/smartermail.md)."
  - For MailEnable on a Windows host, run C(smarthost.exe) there with C(ansible.windows.win_command)
    (C(smarthost.exe --backend mailenable --policy policy.toml --json apply)),
    after C(smarthost.exe mailenable learn) on that server (see docs/backends/mailenable.md).
author:
  - smarthost developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: A SmarterMail server's smarthost, through its web API
  smarthost.mail.smarthost:
    backend: smartermail
    url: https://mail.example.com
    admin_user: admin
    admin_password: "{{ smartermail_admin_password }}"
    server:
      provider: sendgrid
      password: "{{ sendgrid_api_key }}"
  delegate_to: localhost

- name: Relay through SendGrid, and one domain through Mailgun EU
  smarthost.mail.smarthost:
    server:
      provider: sendgrid
      password: "{{ sendgrid_api_key }}"
    domains:
      - domain: shop.example.com
        provider: mailgun-eu
        username: postmaster@mg.shop.example.com
        password: "{{ mailgun_password }}"

- name: Routing rules (Postfix) with a backup relay, one direct exception, a mailbox, a partner route and direct bounces
  smarthost.mail.smarthost:
    server:
      provider: sendgrid
      password: "{{ sendgrid_api_key }}"
      backup_relays:
        - "[smtp2.example.net]:587"
    domains:
      - domain: intranet.example.com
        direct: true
    mailboxes:
      - address: alice@shop.example.com
        relay: "[smtp.example.net]:587"
        username: alice
        password: "{{ alice_relay_password }}"
    recipients:
      - domain: partner.example
        relay: "[mx.partner.example]:25"
        encryption: none
    bounces: direct
"""

RETURN = r"""
plan:
  description: The plan (changes with redacted diffs, warnings, notes), as the binary's JSON (see docs/json.md).
  returned: always
  type: dict
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

SMARTHOST_OPTIONS = dict(
    relay=dict(type="str"),
    provider=dict(type="str"),
    encryption=dict(type="str", choices=["none", "starttls", "implicit-tls"]),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    backup_relays=dict(type="list", elements="str"),
)


def toml_string(value):
    # A JSON string without ASCII escaping is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def write_secret(folder, name, secret):
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return path


def smarthost_table(header, spec, folder, secret_name):
    lines = [header]
    for key in ("relay", "provider", "encryption", "username"):
        if spec.get(key) is not None:
            lines.append("%s = %s" % (key, toml_string(spec[key])))
    if spec.get("password") is not None:
        path = write_secret(folder, secret_name, spec["password"])
        lines.append("password_file = %s" % toml_string(path))
    if spec.get("backup_relays"):
        lines.append("backup = [%s]" % ", ".join(toml_string(b) for b in spec["backup_relays"]))
    if spec.get("direct"):
        # With relay options too, the binary refuses it naming the field.
        lines.append("direct = true")
    return "\n".join(lines) + "\n"


def policy_text(params, folder):
    parts = []
    # A root key: before the first table.
    if params.get("bounces") == "direct":
        parts.append('bounces = "direct"\n')
    if params.get("server"):
        parts.append(smarthost_table("[server]", params["server"], folder, "server.secret"))
    for index, entry in enumerate(params.get("domains") or []):
        header = "[domains.%s]" % toml_string(entry["domain"])
        parts.append(smarthost_table(header, entry, folder, "domain%d.secret" % index))
    for index, entry in enumerate(params.get("mailboxes") or []):
        header = "[mailboxes.%s]" % toml_string(entry["address"])
        parts.append(smarthost_table(header, entry, folder, "mailbox%d.secret" % index))
    for index, entry in enumerate(params.get("recipients") or []):
        header = "[recipients.%s]" % toml_string(entry["domain"])
        parts.append(smarthost_table(header, entry, folder, "recipient%d.secret" % index))
    if params.get("bounces") == "relay":
        parts.append(smarthost_table("[bounces]", params["bounce_relay"], folder, "bounces.secret"))
    features = params.get("features") or {}
    for level in ("server", "domain"):
        for key, value in (features.get(level) or {}).items():
            parts.append("[features.%s]\n%s = %s\n" % (level, key, "true" if value else "false"))
    return "\n".join(parts)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type="path", default="smarthost"),
            backend=dict(type="str", default="postfix", choices=["postfix", "mailenable", "smartermail"]),
            root=dict(type="path"),
            config_dir=dict(type="path"),
            map_dir=dict(type="path"),
            map_type=dict(type="str", choices=["hash", "lmdb", "texthash"]),
            url=dict(type="str"),
            admin_user=dict(type="str", default="admin"),
            admin_password=dict(type="str", no_log=True),
            reload=dict(type="bool", default=True),
            server=dict(type="dict", options=SMARTHOST_OPTIONS),
            domains=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(domain=dict(type="str", required=True), direct=dict(type="bool", default=False), **SMARTHOST_OPTIONS),
            ),
            mailboxes=dict(
                type="list", elements="dict", default=[], options=dict(address=dict(type="str", required=True), **SMARTHOST_OPTIONS)
            ),
            recipients=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(domain=dict(type="str", required=True), direct=dict(type="bool", default=False), **SMARTHOST_OPTIONS),
            ),
            bounces=dict(type="str", default="server", choices=["server", "direct", "relay"]),
            bounce_relay=dict(type="dict", options=SMARTHOST_OPTIONS),
            features=dict(type="dict"),
        ),
        required_if=[("bounces", "relay", ("bounce_relay",))],
        supports_check_mode=True,
    )
    params = module.params
    folder = tempfile.mkdtemp(prefix="smarthost-ansible-")
    try:
        os.chmod(folder, 0o700)
        policy = os.path.join(folder, "policy.toml")
        with open(policy, "w") as f:
            f.write(policy_text(params, folder))
        cmd = [params["binary"], "--backend", params["backend"], "--policy", policy, "--json"]
        for option in ("root", "config_dir", "map_dir", "map_type", "url"):
            if params.get(option):
                cmd += ["--" + option.replace("_", "-"), params[option]]
        environ = {}
        if params["backend"] == "smartermail":
            cmd += ["--admin-user", params["admin_user"]]
            if params.get("admin_password"):
                # In the environment, never on the command line.
                environ["SMARTERMAIL_PASSWORD"] = params["admin_password"]
        if not params["reload"]:
            cmd.append("--no-reload")
        cmd.append("plan" if module.check_mode else "apply")
        rc, out, err = module.run_command(cmd, environ_update=environ)
        if rc != 0:
            module.fail_json(msg=err.strip() or out.strip(), rc=rc)
        result = json.loads(out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    file_changes = [c for c in result.get("changes", []) if c.get("kind") != "command"]
    changed = result["changed"] if "changed" in result else bool(file_changes)
    for warning in result.get("warnings", []):
        module.warn(warning)
    response = dict(changed=changed, plan=dict(changes=result.get("changes", []), notes=result.get("notes", [])))
    if module._diff and file_changes:
        response["diff"] = dict(prepared="".join(c.get("diff", "") for c in file_changes))
    module.exit_json(**response)


if __name__ == "__main__":
    main()
