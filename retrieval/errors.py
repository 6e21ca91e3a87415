"""Every failure a user can cause or fix, with its exit code, in one place.

The CLI and the bot catch `NewsqaError` and print `str(err)` as one line; anything
else is a bug and is reported as such.
"""


class NewsqaError(Exception):
    """A failure with a one-line, user-facing message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(NewsqaError):
    """The question or an argument is unusable as given (exit 2)."""

    exit_code = 2


class ConfigError(NewsqaError):
    """Configuration is missing or inconsistent (exit 2)."""

    exit_code = 2


class StoreUnavailable(NewsqaError):
    """The Chroma server cannot be reached (exit 3)."""

    exit_code = 3


class IndexCorrupt(NewsqaError):
    """The on-disk index cannot be opened or read (exit 4)."""

    exit_code = 4


class ModelMismatch(NewsqaError):
    """The index was built with another embedding model (exit 5)."""

    exit_code = 5


class ModelUnavailable(NewsqaError):
    """Embedding weights are missing or fail their checksum (exit 6)."""

    exit_code = 6


class LLMError(NewsqaError):
    """The language-model endpoint failed; callers fall back to extractive."""

    exit_code = 7
