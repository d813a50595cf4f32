"""The harness: the only part of mmbench that measures time. Also the `mmbench` command."""

__version__ = "0.1.0"
