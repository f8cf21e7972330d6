"""Calling the deployed endpoint: stack outputs, IAM tokens, OpenAI requests, `check` and `bench`."""
