"""runyard's headless core: store, snapshots, scheduling, the engine and its executors."""

__version__ = "0.1.0"
