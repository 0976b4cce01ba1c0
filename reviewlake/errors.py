"""Exceptions that decide the CLI exit code: user mistakes exit 2, pipeline failures exit 1."""


class UserError(Exception):
    """Bad input or option: reported as one line, exit code 2, no traceback."""


class NotFound(UserError):
    """An id that is not in the lake (unknown product or user): exit code 2 in the CLI, 404 in the API."""


class NotBuiltYet(UserError):
    """What was asked for needs a stage that has not run on this lake yet: exit code 2 in the CLI, 503 in the API."""


class PipelineFailure(Exception):
    """A stage failed after it started (recorded in ops.pipeline_runs): exit code 1."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage


class QualityGateFailed(Exception):
    """The data-quality gate rejected a table; downstream stages must not run."""
