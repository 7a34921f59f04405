"""The HTTP interface: OpenAI-compatible and native routes, middleware, exception handlers.

Routes import the service layer through ``function.edge`` (runtime dependency, error rendering) and never
import ``function.events``; only the app factory (``app.py``, an entry point) mounts both interfaces.
"""
