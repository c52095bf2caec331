# Action plugin of fleetrestart.fleet.fleetrestart_scan: runs the scanner binary built for the
# host's architecture (plugins/modules/fleetrestart_<arch>), as a binary module.
from __future__ import annotations

from ansible.plugins.action import ActionBase

ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False
    MODULE = "scan"

    def _arch(self, task_vars):
        facts = (task_vars or {}).get("ansible_facts") or {}
        arch = facts.get("architecture") or (task_vars or {}).get("ansible_architecture")
        if not arch:
            # no facts gathered (binary modules need no Python): ask the host
            res = self._low_level_execute_command("uname -m", sudoable=False)
            if res.get("rc") != 0:
                return None, "cannot run uname -m on the host: %s" % res.get("stderr", "").strip()
            arch = res.get("stdout", "").strip()
        return ARCHES.get(arch), arch

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        arch, seen = self._arch(task_vars)
        if arch is None:
            result.update(failed=True, msg="fleetrestart has no scanner for architecture %r (x86_64 and aarch64 only)" % seen)
            return result
        args = dict(self._task.args)
        args["_fleetrestart_module"] = self.MODULE
        result.update(
            self._execute_module(
                module_name="fleetrestart.fleet.fleetrestart_" + arch,
                module_args=args,
                task_vars=task_vars,
            )
        )
        return result
