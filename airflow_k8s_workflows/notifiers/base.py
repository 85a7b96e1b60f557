"""What this provider's notifiers share: a callback never breaks, and one instance serves many.

Airflow's ``BaseNotifier.__call__`` renders the template fields *in place*. One notifier object
often serves several callbacks in one process (``default_args``, a DAG's success and failure
callbacks, the dag-processor running a batch of callbacks for one file), and the second call
would see the first call's rendered values. Here every call renders a copy.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow.sdk import BaseNotifier

__all__ = ["CallbackNotifier"]


class CallbackNotifier(BaseNotifier):
    """Base of this provider's notifiers (not used directly): renders a copy per call and logs,
    never raises, what goes wrong, so a notification problem never changes the task's outcome."""

    def __call__(self, *args: Any) -> None:
        notifier = copy.copy(self)
        for name in self.template_fields:
            setattr(notifier, name, copy.deepcopy(getattr(self, name)))
        try:
            BaseNotifier.__call__(notifier, *args)
        except Exception as e:
            self.log.error("%s could not notify: %s", type(self).__name__, e)
