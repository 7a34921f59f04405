"""Property-based / fuzz suite (issue 14, Deliver 8): every input gets a success or a documented error.

The invariant every test here checks, for every generated input (``tests/fuzz/invariant.py``):

- the server answers, within a client timeout (no answer in time is a hang, and a failure);
- the answer is a 2xx (a redirect with a Location, a 304), or a 4xx / 503 carrying the documented JSON
  error body ``{"error": {"code": str, "message": str, "param": str | null, "type": str}}`` whose message
  does not echo the input; 503 and 429 carry ``Retry-After``, 401 carries ``WWW-Authenticate``; no other
  5xx or 3xx;
- a server no other traffic reaches is idle again after each answer (no synthesis slot leaked);
- the server is still alive and ready after each case, and still speaks at the end of each module.

The modules: ``test_openapi`` (schemathesis over every route of ``/openapi.json``), ``test_cloudevents``
(``POST /``), ``test_speech`` (text, format, sample rate, speed), ``test_framing`` (raw sockets: headers,
body framing, content types, any method and path), ``test_auth`` (Authorization with JWT auth on, for a
secret and each public-key family). Hypothesis runs derandomized with no example database, so CI and a
laptop generate the same cases; the number run per test is printed in pytest's terminal summary.
"""
