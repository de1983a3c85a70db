"""Reading IAM policy documents (identity and bucket policies) the way AWS does."""


def as_list(value):
    """A policy element that may be one value or a list (Action, Resource, Statement...)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
