"""The DataSphere part: its API client, its dynamic providers and the component that composes them."""
