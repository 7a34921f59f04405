"""Synthesisers behind one protocol (``base.Engine``). Engines import only leaves (``function.errors``,
``function.settings``, ``function.audio``), never the service layer or interfaces; the concrete engines
(``espeak``, ``emotivoice``) never import each other, and only ``registry`` knows both exist."""
