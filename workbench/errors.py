"""One error family for the workbench.

Every message names the input, the fact that is wrong, what was expected and
the fix, so that a failed row in a results table explains itself.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""

    #: short machine-readable code, stored in failed result rows
    code = "error"

    def __init__(self, message: str, *, source: str | None = None, fix: str | None = None):
        self.source = source
        self.fix = fix
        parts = []
        if source:
            parts.append(f"{source}: ")
        parts.append(message)
        if fix:
            parts.append(f" Fix: {fix}")
        super().__init__("".join(parts))
        self.message = message

    def render(self) -> str:
        """The console form: ``error: <source>: <message>`` and, on the next line, ``  fix: <fix>``."""
        lines = [f"error: {self.source}: {self.message}" if self.source else f"error: {self.message}"]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "code": self.code,
            "source": self.source,
            "message": self.message,
            "fix": self.fix,
            "text": str(self),
        }


class AudioError(WorkbenchError):
    """Audio that cannot be read or must not be used as it is."""

    code = "audio"


class ModelError(WorkbenchError):
    """A model that cannot be resolved, loaded or run."""

    code = "model"


class ConfigError(WorkbenchError):
    """A setting, argument or file of settings that is not valid."""

    code = "config"
