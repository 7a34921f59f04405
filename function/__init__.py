"""emotivoice-serverless: the serving package (the Knative Functions convention names it ``function``).

Layers, data flowing one way (``tests/architecture`` fails on an import that goes up):

    entry points   cli, func, http.app          compose everything below
    interfaces     http (routes), events         never import each other
    edge           edge                          what both interfaces share: runtime dependency, error rendering
    service        service                       the one pipeline (synthesis.open -> Job), renders, batches, runtime
    engines        engines                       espeak, EmotiVoice: text + voice + style -> audio chunks
    leaves         errors, settings, metrics, logs, auth, ratelimit, sink, storage, audio

The build step (``snapshot/``), the capacity planner (``planner/``) and test fixtures (``testkit/``) are
separate top-level packages that may import this one, never the reverse.
"""
