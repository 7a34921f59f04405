"""Audio leaves: encoders (PCM -> one streamed container), time stretching, and decoding reference clips.
Import nothing of ours, except ``decode``, which raises the one error model's ``ServiceError``."""
