"""data_service: the training stream on a tf.data dispatcher and two workers on loopback.

The workers are reached through counting TCP proxies (each worker tells the dispatcher its
proxy's address, which the trainer then connects to), so the test sees how many bytes of batches
each worker sent: TensorFlow does not say which worker made an element.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.errors import ConfigError, PipelineError
from alexnet_pipeline.input import data_service
from alexnet_pipeline.input.reader import make_dataset, steps_per_epoch
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.training.model import build_alexnet
from tests.helpers import noise_array, write_test_shards

IMAGES, BATCH, CLASSES = 24, 5, 3
FORMAT = ShardFormat("jpeg", 72, 67)  # 67 px: AlexNet's smallest input
BATCH_BYTES = BATCH * 67 * 67 * 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CountingProxy:
    """Forwards loopback TCP connections to `target_port`, counting the bytes sent back."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.bytes_back, self._lock = target_port, 0, threading.Lock()
        self._connections: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, back: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
                if back:
                    with self._lock:
                        self.bytes_back += len(data)
        except OSError:
            pass
        finally:
            self._hang_up(source, sink)

    @staticmethod
    def _hang_up(*ends: socket.socket) -> None:
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass

    def close(self) -> None:
        """Stop accepting and drop every connection (a worker stops in 20 s while a client's
        connection to it stays open)."""
        self._server.close()
        self._hang_up(*self._connections)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    images = [(Image.fromarray(noise_array(72, 72, seed=i)), i % CLASSES, f"train/c{i % CLASSES}/{i}.jpg")
              for i in range(IMAGES)]
    return write_test_shards(tmp_path_factory.mktemp("shards"), "train", images, 7)


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[str, list[CountingProxy]]]:
    """A dispatcher and two workers on 127.0.0.1: the address to use and the workers' proxies."""
    svc = tf.data.experimental.service
    dispatcher = svc.DispatchServer(svc.DispatcherConfig(port=0))
    dispatcher_port = int(dispatcher.target.rsplit(":", 1)[1])
    proxies, workers = [], []
    for _ in range(2):
        port = _free_port()
        proxies.append(CountingProxy(port))
        workers.append(svc.WorkerServer(svc.WorkerConfig(
            dispatcher_address=f"127.0.0.1:{dispatcher_port}", worker_address=f"127.0.0.1:{proxies[-1].port}",
            port=port, heartbeat_interval_ms=100)))  # new tasks reach a worker at its heartbeat
    try:
        yield data_service.service_address(f"grpc://127.0.0.1:{dispatcher_port}"), proxies
    finally:
        for proxy in proxies:
            proxy.close()
        for worker in workers:
            worker.stop()
        dispatcher.stop()


def _stream(files: list[str], epochs: tuple[int, int]) -> tf.data.Dataset:
    """The training stream as the train stage makes it, without the length assertion over all
    epochs, which a worker making only some epochs would fail (`distribute` asserts it instead)."""
    return make_dataset(files, FORMAT, BATCH, training=True, seed=7, epochs=epochs)


def _digests(dataset: tf.data.Dataset) -> list[str]:
    return [hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
            for images, labels in dataset]


@pytest.mark.slow(seconds=5)
def test_the_workers_make_every_local_batch_once(shards, service) -> None:
    address, proxies = service
    epochs, steps = (0, 3), steps_per_epoch(IMAGES, BATCH)
    local = _digests(_stream(shards, epochs))
    sent_before = [proxy.bytes_back for proxy in proxies]
    distributed = data_service.distribute(_stream(shards, epochs), address, batches=3 * steps)
    assert int(distributed.cardinality()) == 3 * steps  # known, for Keras' steps

    remote = _digests(distributed)

    assert len(local) == len(set(local)) == 3 * steps  # distinct batches, so the multiset says it all
    assert sorted(remote) == sorted(local)  # every batch once, none twice, none changed
    epoch_of = {digest: index // steps for index, digest in enumerate(local)}
    for epoch in range(*epochs):  # each epoch from one worker, in its local order
        assert [d for d in remote if epoch_of[d] == epoch] == local[epoch * steps:(epoch + 1) * steps]
    sent = [proxy.bytes_back - before for proxy, before in zip(proxies, sent_before, strict=True)]
    assert all(count > BATCH_BYTES for count in sent), f"bytes sent back by each worker: {sent}"


@pytest.mark.slow(seconds=10)
def test_keras_trains_on_batches_from_the_workers(shards, service) -> None:
    address, _ = service
    steps = steps_per_epoch(IMAGES, BATCH)
    model = build_alexnet(CLASSES, FORMAT.image_size, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    before = [weights.numpy().copy() for weights in model.trainable_weights]

    history = model.fit(data_service.distribute(_stream(shards, (0, 2)), address, batches=2 * steps),
                        epochs=2, steps_per_epoch=steps, shuffle=False, verbose=0)

    assert len(history.history["loss"]) == 2 and all(np.isfinite(history.history["loss"]))
    changed = [not np.array_equal(old, new.numpy()) for old, new in zip(before, model.trainable_weights, strict=True)]
    assert all(changed), "every kernel and bias should have moved"


def test_a_stream_that_asserts_its_own_length_is_refused(shards) -> None:
    asserted = make_dataset(shards, FORMAT, BATCH, training=True, seed=7, num_examples=IMAGES, epochs=(0, 2))
    with pytest.raises(ValueError, match="asserts its length"):
        data_service.distribute(asserted, "grpc://127.0.0.1:1")  # refused before TensorFlow dials


@pytest.mark.parametrize("value", ["grpc://127.0.0.1:5050", "grpc://data-0.example.org:5050", "grpc://[::1]:5050"])
def test_a_dispatcher_address_is_taken_as_it_is(value: str) -> None:
    assert data_service.service_address(value) == value


def test_an_empty_address_turns_the_service_off() -> None:
    assert data_service.service_address("") is None


@pytest.mark.parametrize("value", ["grpc://host", "grpc://host:", "host:5050", "http://host:5050", "grpc://:5050",
                                   "grpc://host:0", "grpc://host:65536", "grpc://host:port", "grpc://host:5050/",
                                   "grpc://user@host:5050", " grpc://host:5050", "grpc://[::1:5050"])
def test_anything_else_is_a_config_error_naming_the_param_and_the_form(value: str) -> None:
    with pytest.raises(ConfigError) as error:
        data_service.service_address(value)
    assert "`train.data_service`" in str(error.value) and "grpc://HOST:PORT" in str(error.value)
    assert repr(value) in str(error.value)


def test_no_dispatcher_is_a_quick_clear_error(shards) -> None:
    port = _free_port()  # nothing listens there
    address = f"grpc://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(PipelineError) as error:
        data_service.check_reachable(address, timeout_s=5)
    with pytest.raises(PipelineError):  # where TensorFlow alone would wait for ever
        data_service.distribute(_stream(shards, (0, 1)), address)
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert message.startswith(f"train.data_service: no tf.data dispatcher answers at {address} (")
    assert f"DispatcherConfig(port={port})" in message and "docs/scaling.md" in message


def test_a_listening_dispatcher_is_reachable(service) -> None:
    address, _ = service
    data_service.check_reachable(address, timeout_s=5)


def test_the_address_is_checked_without_loading_tensorflow() -> None:
    """So that the params' validation can use it."""
    check = "import sys, alexnet_pipeline.input.data_service; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True, cwd=Path(__file__).parents[3])
