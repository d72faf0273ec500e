"""The bundled broker, in-process: ``ferrokafka.broker.start(...)``, or from a shell::

    python -m ferrokafka.broker --listen 127.0.0.1:9092 --data-dir DIR [--set KEY=VALUE ...]

which prints ``ferrokafka-broker listening on HOST:PORT`` when ready (as the
``ferrokafka-broker`` binary does) and stops cleanly on SIGINT or SIGTERM."""
import argparse
import signal
import sys
import threading

from . import _native

__all__ = ["Broker", "start", "init_logging", "main"]


def _settings(settings):
    return [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (settings or {}).items()]


class Broker:
    """A running broker; ``bootstrap`` is its ``host:port`` for clients, ``local_addr`` the
    address it is bound to. Stop it with ``stop()`` (or use it as a context manager)."""

    def __init__(self, listen="127.0.0.1:0", data_dir="./ferrokafka-data", settings=None, config_file=None,
                 advertised_listener=None):
        self._native = _native.NativeBroker(listen, None if data_dir is None else str(data_dir), _settings(settings),
                                            None if config_file is None else str(config_file), advertised_listener)
        #: ``host:port`` for ``bootstrap.servers``.
        self.bootstrap = self._native.bootstrap
        #: The address the listener is bound to.
        self.local_addr = self._native.local_addr
        #: The Schema Registry's URL (``http://host:port``), on by default in-process;
        #: ``None`` when turned off with ``settings={"schema.registry.listeners": ""}``.
        self.schema_registry_url = self._native.schema_registry_url

    def stop(self):
        """Flushes and closes every log; idempotent."""
        self._native.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(listen="127.0.0.1:0", data_dir="./ferrokafka-data", settings=None, config_file=None, advertised_listener=None):
    """Starts a broker and returns it once clients can connect. `settings` are broker
    settings by their Kafka names (``num.partitions``, ``log.retention.ms``, ...)."""
    return Broker(listen, data_dir, settings, config_file, advertised_listener)


def init_logging(level="info"):
    """Sends the broker's and the client core's logs to stderr at `level` (error, warn,
    info, debug, trace); the first call wins."""
    _native.init_logging(level)


def main(argv=None):
    """``python -m ferrokafka.broker``: the options of the ``ferrokafka-broker`` binary."""
    ap = argparse.ArgumentParser(prog="python -m ferrokafka.broker",
                                 description="A single-node broker speaking the Kafka wire protocol.")
    ap.add_argument("--listen", help="address to listen on; port 0 picks a free port [default: 127.0.0.1:9092]")
    ap.add_argument("--data-dir", help="directory for logs and broker metadata [default: ./ferrokafka-data]")
    ap.add_argument("--advertised-listener", help="host:port that Metadata reports to clients [default: the bound address]")
    ap.add_argument("--config", help="TOML file with settings (Kafka names, e.g. num.partitions = 3)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="one setting; may repeat; wins over the config file")
    ap.add_argument("--log-level", default="info", help="error, warn, info, debug, trace [default: info]")
    args = ap.parse_args(argv)
    # As the ferrokafka-broker binary: the Schema Registry is off unless --set turns it on.
    settings = [("schema.registry.listeners", "")]
    for kv in args.set:
        if "=" not in kv:
            ap.error(f"--set {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        settings.append((k.strip(), v))
    init_logging(args.log_level)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        native = _native.NativeBroker(args.listen, args.data_dir, settings, args.config, args.advertised_listener)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    # Scripts wait for exactly this line.
    print(f"ferrokafka-broker listening on {native.local_addr}", flush=True)
    if native.schema_registry_url is not None:
        print(f"ferrokafka-broker schema-registry on {native.schema_registry_url}", flush=True)
    while not stop.wait(0.5):
        pass
    native.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
