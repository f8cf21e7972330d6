"""Client code for the deployed endpoint; run each with `python -m examples.<name>` from the project root."""
