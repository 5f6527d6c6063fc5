"""The domain error a handler raises for an event it cannot apply."""


class Rejected(Exception):
    """The event cannot be applied. The reason is shown to operators: never put personal data in it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
