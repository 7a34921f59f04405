"""OpenAI's built-in voice names. Every engine maps each of them to one of its own documented voices, so
an unmodified OpenAI client (which only knows these names) works against any engine.

Shared by both engines; imports nothing of ours.
"""

OPENAI_VOICES: tuple[str, ...] = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "marin", "cedar",
)
