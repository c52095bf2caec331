# -*- coding: utf-8 -*-
# Documentation only: the module is the static scanner binary (fleetrestart_<arch>), run by the
# action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: fleetrestart_scan
short_description: Find services, sessions and reboots needed after package upgrades
description:
  - Scans the host for processes that still use deleted or replaced executables, libraries,
    scripts or interpreter modules, and says which service, session or reboot refreshes each,
    with the file and package that caused it.
  - Reads C(/proc), C(/boot), C(/etc/passwd) and dpkg's file lists; runs nothing it finds.
  - Never changes the host (C(changed) is always false); supports check mode.
  - The module is a static binary (x86_64 or aarch64), so no Python is needed on the host.
  - Run with C(become=true) for complete results; the result says C(partial) otherwise.
version_added: "0.1.0"
author: fleetrestart developers
options:
  rules:
    description:
      - A fleetrestart rules file (YAML text) merged over the built-in rules, e.g.
        C({{ lookup('file', 'rules.yml') }}).
    type: str
  ignore:
    description: Regexes of stale file paths not to report.
    type: list
    elements: str
    default: []
  all:
    description: Turn off the built-in ignore lists (memfd, /tmp, /dev, ...).
    type: bool
    default: false
  no_packages:
    description: Do not look up the owning packages.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
notes:
  - The binary is copied to the host's remote tmp and executed there, so C(ansible_remote_tmp) must not
    be on a noexec mount.
"""

EXAMPLES = r"""
- name: Scan
  fleetrestart.fleet.fleetrestart_scan:
  become: true

- name: Services to restart
  ansible.builtin.debug:
    var: ansible_facts.fleetrestart.services
"""

RETURN = r"""
ansible_facts:
  description: The fact C(fleetrestart).
  returned: success
  type: dict
  contains:
    fleetrestart:
      description: What the host needs.
      type: dict
      contains:
        needs_restart:
          description: Some service uses stale files.
          type: bool
        needs_reboot:
          description: A reboot is needed (kernel, system bus, C(/run/reboot-required)).
          type: bool
        needs_action:
          description: Anything at all to do (services, sessions, reboot, unattributed).
          type: bool
        services:
          description: Services to restart (policy auto).
          type: list
          elements: str
        services_manual:
          description: Services that use stale files but are restarted only on request.
          type: list
          elements: str
        never_restart:
          description: Services that are never restarted (a reboot or the operator refreshes them).
          type: list
          elements: str
        sessions:
          description: Number of login sessions using stale files.
          type: int
        reboot_reasons:
          description: Why a reboot is needed.
          type: list
          elements: str
        partial:
          description: Not every process could be read (not root).
          type: bool
        report:
          description: The full scanner report (docs/report-schema.json).
          type: dict
"""
