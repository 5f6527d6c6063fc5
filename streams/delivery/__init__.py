"""Pushing journey updates to partners' endpoints as signed Standard Webhooks: `outbox.py` (what
the follow stage writes), `lease.py` (claiming and settling), `sender.py` (the deliverer).

push (in the journey stage's transaction)        one pending row per applied event per subscription
                                                 that wants its kind; ids only, no payload (and a
                                                 notice per report outcome: streams/reporters.py)
Deliverer (a task of the worker)                 sends due deliveries, oldest first, one person at
                                                 a time per subscription; each subscription has
                                                 its own slots, so a slow or failing endpoint
                                                 delays nobody else

A delivery is leased before it is sent. A deliverer killed mid-flight leaves the lease to run
out, and the delivery is sent again under the same `webhook-id` (at-least-once, as the spec
allows). The payload is built through the sharing policy at the moment of sending. Deliveries
are written with the projection they announce, in one transaction: a partner is never told of
an entry the read model does not have, and no entry is stored without its deliveries.
"""

from streams.delivery.outbox import Pushed, push
from streams.delivery.sender import Deliverer

__all__ = ["Deliverer", "Pushed", "push"]
