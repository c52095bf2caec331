# -*- coding: utf-8 -*-
# Documentation only: the module is the static scanner binary (fleetrestart_<arch>), run by the
# action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
module: fleetrestart_restart
short_description: Restart the services that use stale files, and prove it with a rescan
description:
  - Scans as M(fleetrestart.fleet.fleetrestart_scan), restarts the services whose policy is
    C(auto) (C(systemctl restart), stop/kill/start for services whose rule says so, the init
    script on hosts without systemd), then scans again and fails if a restarted service still
    uses stale files.
  - Services whose policy is C(never) or C(reboot), login sessions and the system manager are
    never restarted (the system manager only with I(daemon_reexec) or when C(systemd-manager) is
    named in I(services)); a C(manual) service only when named in I(services).
  - Commands run as argument vectors with a clean environment; unit names are validated.
  - systemd-journald is restarted first and alone; every restarted unit is then read back until
    the same invocation is active at two looks 1 s apart, and one left down is started once and
    named with its cause; a sysv service is checked with its init script's C(status).
version_added: "0.1.0"
author: fleetrestart developers
options:
  services:
    description: Restart only these services (a C(manual) one named here is restarted too).
    type: list
    elements: str
  exclude:
    description: Never restart these services.
    type: list
    elements: str
    default: []
  daemon_reexec:
    description: Re-execute systemd (PID 1) when it uses stale files (done last).
    type: bool
    default: false
  restart_timeout:
    description: Seconds one restart command may take before it is killed and the task fails.
    type: int
    default: 300
  rules:
    description: A rules file (YAML text) merged over the built-in rules.
    type: str
  ignore:
    description: Regexes of stale file paths not to report.
    type: list
    elements: str
    default: []
  all:
    description: Turn off the built-in ignore lists.
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
    support: full
"""

EXAMPLES = r"""
- name: Restart what uses stale files, except the database
  fleetrestart.fleet.fleetrestart_restart:
    exclude: [mariadb.service]
  become: true
"""

RETURN = r"""
restarted:
  description: Services restarted (in check mode, those that would be).
  returned: always
  type: list
  elements: str
left:
  description: Services not restarted, each with the reason.
  returned: always
  type: list
  elements: dict
ansible_facts:
  description: The fact C(fleetrestart) from the rescan (the scan, in check mode).
  returned: success
  type: dict
"""
