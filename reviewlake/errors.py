"""Exceptions that decide the CLI exit code: user mistakes exit 2, pipeline failures exit 1."""


class UserError(Exception):
    """Bad input or option: reported as one line, exit code 2, no traceback."""


class PipelineFailure(Exception):
    """A stage failed after it started (recorded in ops.pipeline_runs): exit code 1."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage


class QualityGateFailed(Exception):
    """The data-quality gate rejected a table; downstream stages must not run."""
