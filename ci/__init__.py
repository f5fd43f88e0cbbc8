"""The policy pull-request check and the CI templates that run it."""
