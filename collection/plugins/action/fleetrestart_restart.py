# Action plugin of fleetrestart.fleet.fleetrestart_restart: the same scanner binary as
# fleetrestart_scan, asked to restart what it finds.
from __future__ import annotations

from ansible_collections.fleetrestart.fleet.plugins.action.fleetrestart_scan import (
    ActionModule as ScanAction,
)


class ActionModule(ScanAction):
    MODULE = "restart"
