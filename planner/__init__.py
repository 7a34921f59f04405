"""Capacity planner: Knative KPA (and HPA / KEDA) simulated on this service's measured numbers.

A development tool, not part of the service: it sits next to the serving package ``function`` (same
``pyproject.toml``, ``planner`` extra for matplotlib and PyYAML), is not copied into the serving images,
and it imports nothing from ``function``: it sees the service only through the benchmark files
(``bench/results/*.json``) and the Knative YAML. The one reference the other way is ``function/cli.py``
mounting ``planner.cli:plan`` as ``emotivoice-fn plan`` where the planner is installed.

Modules, one concern each:

- ``kpa``: the per-tick decision of knative/serving's autoscaler and the KPA reconciler's scale-to-zero rules.
- ``hpa`` / ``keda``: Kubernetes HPA on CPU and KEDA's external-metric HPA, as the seed article configures them.
- ``workload``: arrival traces (CSV or rate functions, Poisson with a seed).
- ``measurements``: the benchmark JSON files and the service-time / cold-start models derived from them.
- ``simulation``: the discrete-event simulation of pods, queue-proxy, activator and an autoscaler.
- ``recommend``: the cheapest Knative settings meeting a latency SLO, written as a kustomize patch.
- ``plots``: PNG plots. ``cli``: the ``plan`` command.
"""
