"""What every Yandex Cloud API the stack speaks shares: HTTP, credentials, retries, operations, providers."""
