"""What the two HTTP-borne interfaces (``function.http`` routes and the ``function.events`` ingress) share,
so that neither imports the other: the request's runtime (a FastAPI dependency) and the HTTP rendering of
the one error model. Must not import ``function.http``, ``function.events`` or ``function.cli``."""
