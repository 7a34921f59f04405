"""Capacity planner: Knative KPA (and HPA / KEDA) simulated on this service's measured numbers.

Modules, one concern each:

- ``kpa``: the per-tick decision of knative/serving's autoscaler and the KPA reconciler's scale-to-zero rules.
- ``hpa`` / ``keda``: Kubernetes HPA on CPU and KEDA's external-metric HPA, as the seed article configures them.
- ``workload``: arrival traces (CSV or rate functions, Poisson with a seed).
- ``measurements``: the benchmark JSON files and the service-time / cold-start models derived from them.
- ``simulation``: the discrete-event simulation of pods, queue-proxy, activator and an autoscaler.
- ``recommend``: the cheapest Knative settings meeting a latency SLO, written as a kustomize patch.
- ``plots``: PNG plots. ``cli``: the ``plan`` command.
"""
