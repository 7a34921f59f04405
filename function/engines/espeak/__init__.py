"""The embedded espeak-ng engine (libespeak-ng 1.52 from the espeakng-loader wheel): speaks on a fresh
machine with no checkpoints. Must not import the EmotiVoice engine, the service layer or interfaces."""
