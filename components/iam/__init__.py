"""The IAM API's service-account API keys: the registry logins of the stack."""
