"""Errors about input data. Each renders as one line naming file, line and field."""

from __future__ import annotations


class MMBenchError(Exception):
    """Base of every error the tool reports as one line instead of a traceback."""

    exit_code = 1


class UsageError(MMBenchError):
    """The user asked for something that does not exist (query, backend, parameter)."""

    exit_code = 2


class DataError(MMBenchError):
    """A malformed input record: `file:line: field <name>: <problem>`."""

    def __init__(self, file: str, line: int | None, field: str | None, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = f"{file}:{line}" if line is not None else file
        what = f"field {field}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


def first_line(error: BaseException | str, cut: tuple[str, ...] = ()) -> str:
    """The first line of an error message (its `message` attribute if it has one), with anything
    from one of the `cut` markers on dropped: drivers append pages of detail."""
    text = error if isinstance(error, str) else str(getattr(error, "message", None) or error)
    for marker in cut:
        text = text.partition(marker)[0]
    lines = text.strip().splitlines()
    if lines:
        return lines[0]
    return "" if isinstance(error, str) else type(error).__name__
