"""The stack's Pulumi policy pack; `policies.py` holds the rules, `__main__.py` serves them."""
