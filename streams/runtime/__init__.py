"""The stream runtime: runs stages as batch steps on one aiokafka consumer, with their states in a
local store restored from compacted changelogs (see engine.py for the order of writes that makes
a crash at any moment redeliver, never lose).

The contract a stage sees (stage.py):
- a `Stage`: its name, input topic, changelog topic, and `step(batch)`;
- the `Batch` it steps: `decoded(decode, undecodable)` gives its records with their values,
  `load(partition, key, model)` and `keep(...)` read and change the states, `send(...)` and
  `dead_letter(...)` queue outputs, and `write_then(write)` asks for a read-model write made
  before the outputs are sent.

It imports nothing of the domain, the schemas, the API or the settings: encodings come in with
the calls, sizes in `Tuning`. A step can be run on a `Batch` over `MemoryState` partitions in a
unit test, without a broker (tests/unit/streams/).
"""

from streams.runtime.engine import Engine, EngineStopped
from streams.runtime.faults import Faults
from streams.runtime.stage import Batch, DeadLetters, MemoryState, Output, Stage
from streams.runtime.store import StateStore
from streams.runtime.tuning import Tuning

__all__ = ["Batch", "DeadLetters", "Engine", "EngineStopped", "Faults", "MemoryState", "Output", "Stage",
           "StateStore", "Tuning"]
