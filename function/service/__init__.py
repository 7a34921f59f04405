"""The service layer: the one synthesis pipeline (``synthesis.SynthesisService.open`` -> ``job.Job``),
admission, storage renders, batches, and the process lifecycle (``runtime.Runtime``).

Imports engines and leaves only; never ``function.edge``, ``function.http``, ``function.events`` or
``function.cli``. Failures are ``function.errors.ServiceError`` with a kind; the interfaces map kinds.
"""
