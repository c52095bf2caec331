# A stdout callback for the tests (ansible-core ships no JSON one; ansible.posix.json is not in
# ansible-core): at the end, one JSON document {"plays": [{"play": {"name"}, "tasks": [{"task":
# {"name"}, "hosts": {HOST: RESULT}}]}], "stats": {HOST: {...}}}, as ansible.posix.json prints.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: fr_json
type: stdout
short_description: JSON of every task result (tests only)
description: Prints one JSON document at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fr_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **extra):
        r = dict(result._result)
        r.update(extra)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = r

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        out = {
            "plays": self.plays,
            "stats": {h: stats.summarize(h) for h in hosts},
        }
        self._display.display(json.dumps(out, default=str, sort_keys=True))
