"""The node sensor: exec sources -> enrichment (container, pod, process tree) -> detectors -> sinks.

Layout: ``sources/`` (fanotify, tracefs, procfs), ``identity/`` (cgroup -> container id, Docker
metadata), ``mounts.py`` (container rootfs discovery), ``proctree.py``, ``pipeline.py``,
``sinks.py`` + ``spool.py`` (stdout, file, server with an on-disk spool), ``response.py``.
"""
