"""The training batches made on tf.data service workers (`train.data_service: grpc://HOST:PORT`).

When one host's cores cannot decode and crop images as fast as its GPU trains on them, the
training stream (`reader.make_dataset`) can run on tf.data service workers on other machines: a
dispatcher hands out the work, the workers read the shards and make the batches, and the trainer
only receives them. Off by default (`""`): the batches are made on the training host.

    address = service_address(cfg.data_service)   # None: off; ConfigError unless grpc://HOST:PORT
    if address:                                   # the stream without its length asserted:
        train_data = distribute(train_data, address, batches=epochs * steps)

The workers get the dataset's graph, not this project: they need the same TensorFlow and the
shard files at the paths the graph names (docs/scaling.md shows how to start them). Importing
this module loads no TensorFlow, so the params' validation can use `service_address`.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from alexnet_pipeline.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    import tensorflow as tf

PARAM = "train.data_service"
FORM = 'grpc://HOST:PORT (a tf.data dispatcher, such as grpc://10.0.0.5:5050), or "" to make the batches here'
START = ("python -c 'import tensorflow as tf; s = tf.data.experimental.service; "
         "s.DispatchServer(s.DispatcherConfig(port={port})).join()' on {host}, then its workers")


def _host_port(value: str) -> tuple[str, int] | None:
    """(host, port) of a `grpc://HOST:PORT` address (an IPv6 host in brackets); None if it is not one."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port that is not a number or out of range, an unclosed bracket
        return None
    if (parts.scheme != "grpc" or not parts.hostname or not port or parts.username is not None
            or parts.path or parts.query or parts.fragment or value != value.strip()):
        return None
    return parts.hostname, port


def service_address(value: str) -> str | None:
    """The dispatcher address that `train.data_service` names, as tf.data takes it; None when the
    param is `""` (off). Anything but `""` or `grpc://HOST:PORT` raises `ConfigError`."""
    if value == "":
        return None
    if _host_port(value) is None:
        raise ConfigError(f"`{PARAM}` must be {FORM}, got {value!r}")
    return value


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Raise `PipelineError` unless something accepts a TCP connection at the dispatcher
    `address` (from `service_address`) within `timeout_s` seconds. TensorFlow would wait for an
    absent dispatcher without end (registering a dataset retries), so ask first. A listening port
    is all this proves: another service there fails in TensorFlow."""
    host_port = _host_port(address)
    if host_port is None:
        raise ConfigError(f"`{PARAM}` must be {FORM}, got {address!r}")
    try:
        socket.create_connection(host_port, timeout=timeout_s).close()
    except OSError as exc:  # refused, timed out, unknown host, unreachable network
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        start = START.format(host=host_port[0], port=host_port[1])
        raise PipelineError(f"{PARAM}: no tf.data dispatcher answers at {address} ({reason}); start one: {start} "
                            f'(docs/scaling.md); or set {PARAM}: "" to make the batches on this host') from None


def distribute(dataset: tf.data.Dataset, address: str, job_name: str | None = None, *,
               batches: int | None = None) -> tf.data.Dataset:
    """`dataset`'s elements, made by the tf.data service workers of the dispatcher at `address`
    (from `service_address`; `check_reachable` is asked first, with its default timeout).

    Processing mode `ShardingPolicy.DYNAMIC`. The training stream is
    `Dataset.range(first_epoch, last_epoch).flat_map(one epoch)`, and DYNAMIC splits its source,
    the range: the dispatcher hands each epoch number to one worker, which makes that whole epoch
    (shuffle, parse, decode, crop, batch) as the training host would, from the same stateless
    seeds of (seed, epoch, position). So every batch of every epoch comes once and is the batch a
    local run makes (with the reader's `deterministic`, which keeps an epoch's order). What
    changes is the order across epochs: the trainer takes batches from the workers as they come,
    so the epochs that workers make at the same time interleave, and which comes first is not
    deterministic; each epoch's own batches keep their order. As many workers are busy as epochs
    remain, each making its epoch with all its cores. The other modes do not fit: OFF has every
    worker make the whole stream (each batch once per worker), and the static ones (FILE, DATA,
    HINT) need a fixed worker list and a trainer beside every worker.

    With `batches` (the stream's length: epochs x steps per epoch) the result has that known
    length, which Keras needs for its steps, and is checked against it: DYNAMIC hands out each
    epoch at most once, so a worker lost mid-epoch loses the rest of that epoch, and the stream
    then fails when it ends short instead of training on less. `dataset` must not assert its own
    length (make_dataset does, over all epochs, when given `num_examples`): a worker makes only
    some of the epochs, and would fail it. Such a dataset is refused with ValueError.

    `job_name` None gives each iteration its own job: what one trainer needs. With a name,
    trainers share one job (each batch goes to one of them); a name must not be reused while the
    dispatcher runs, since a finished job's name gives an empty stream.
    """
    import tensorflow as tf

    if int(dataset.cardinality()) >= 0:
        raise ValueError(f"the dataset asserts its length ({int(dataset.cardinality())} elements), which a tf.data "
                         "service worker making only some epochs would fail: give it as `batches` instead")
    check_reachable(address)
    service = tf.data.experimental.service
    distributed = dataset.apply(service.distribute(processing_mode=service.ShardingPolicy.DYNAMIC,
                                                   service=address, job_name=job_name))
    if batches is not None:
        distributed = distributed.apply(tf.data.experimental.assert_cardinality(batches))
    return distributed
