"""One router per API surface. Each route converts its pydantic body into a ``SynthesisRequest`` (or a
batch spec), calls the service, and turns the result into a response; nothing else."""
