"""The saga log contract, for stanchion's storage backends (`actors.backends`).

`SagaLog` is the protocol every backend implements. `BatchedSagaLog` is the
write side the durable logs share (one writer thread, writes committed in
batches); `encode` and `Quarantine` are how every log turns a saga into text
and back, quarantining what it cannot read. Users pick a log from
`actors.backends`.
"""

from actors.saga._batching import Done, Op
from actors.saga._errors import DuplicateSaga, SagaLogClosed, SagaLogError
from actors.saga._log import BatchedSagaLog, CorruptSaga, Quarantine, SagaLog, encode
from actors.saga._machine import ENDS, Saga, SagaStatus

__all__ = [
    "ENDS",
    "BatchedSagaLog",
    "CorruptSaga",
    "Done",
    "DuplicateSaga",
    "Op",
    "Quarantine",
    "Saga",
    "SagaLog",
    "SagaLogClosed",
    "SagaLogError",
    "SagaStatus",
    "encode",
]
