"""Audio leaves: encoders (PCM -> one streamed container) and time stretching. Import nothing of ours."""
