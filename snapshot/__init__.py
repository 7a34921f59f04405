"""The snapshot build step: compile an EmotiVoice home into a snapshot directory (``build.py``), fetch
upstream's weights for an image build (``fetch_weights.py``), and the ``emotivoice-fn snapshot`` command.

It depends on the engine (``function.engines.emotivoice``: the modules it compiles, the snapshot format
and runtime it writes for and checks against); the serving package never imports it.
"""
