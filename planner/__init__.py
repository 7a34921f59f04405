"""Capacity planner: Knative KPA (and HPA / KEDA) simulated on this service's measured numbers.

A development tool, not part of the service: it sits next to the serving package ``function`` (same
``pyproject.toml``, ``planner`` extra for matplotlib and PyYAML), is not copied into the serving images,
and it imports nothing from ``function``: it sees the service only through the benchmark files
(``bench/results/*.json``, shipped as ``planner/data/*.json``) and the Knative YAML. The one reference
the other way is ``function/cli.py`` mounting ``planner.cli:plan`` as ``emotivoice-fn plan`` where the
planner is installed.

Modules, one concern each:

- Knative's rules: ``go_syntax`` (Go's value syntax, as Knative parses and prints values),
  ``knative_autoscaler_config`` (the ``config-autoscaler`` ConfigMap), ``knative_annotations`` (the
  webhook's annotation rules and the PodAutoscaler's getters), ``kpa_config`` (a revision's knobs and
  Knative's target / panic-window resolution), ``metric_buckets`` (the 1 s metric buckets), ``kpa_decider``
  (one autoscaler tick), ``kpa_reconciler`` (bounds, scale to zero, activator in the path), ``kpa``
  (them glued together for the simulation).
- ``hpa`` / ``keda``: Kubernetes HPA on CPU and KEDA's external-metric HPA, as the seed article configures them.
- ``workload``: arrival traces (CSV or rate functions, Poisson with a seed).
- ``measurements``: the benchmark JSON files and the service-time / cold-start models derived from them;
  ``measured_defaults``: the copies shipped in ``planner/data`` and their refresh from ``bench/results``.
- ``simulation``: the discrete-event simulation of pods, queue-proxy, activator and an autoscaler.
- ``recommend``: the cheapest Knative settings meeting a latency SLO; ``function_bound``: the function's
  workers + queue matching a containerConcurrency; ``knative_config``: Knative YAML in, a validated patch out.
- ``plots``: PNG plots. ``cli``: the ``plan`` command.
"""
