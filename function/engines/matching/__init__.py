"""Voice matching (issue 16): a pretrained speaker encoder, the voice index of an engine's built-in
voices, and picking the nearest built-in voices for a reference clip.

Matching is NOT cloning: a custom voice is a weighted choice among the voices an engine already has
(EmotiVoice blends their speaker embeddings; espeak speaks the nearest one). Nothing here learns a new
voice from the clip.

Layout: ``frontend`` (numpy: volume, silence trim, mel spectrogram, partial windows, resemblyzer's
preprocessing re-implemented so serving needs neither librosa nor torch), ``encoder`` (the ONNX speaker
encoder, loaded lazily once per process), ``index`` (per-engine embeddings of built-in voices, built from
fixed probe sentences), ``match`` (cosine top-k and blend weights), ``export`` (build time only: resemblyzer's
torch encoder -> ONNX; the one module here that imports torch, never imported by serving code).

An engines-layer package: imports ``function.engines.base``, ``function.errors`` and numpy/onnxruntime;
never a concrete engine (it synthesises through the ``Engine`` protocol), the service layer or interfaces.
"""
