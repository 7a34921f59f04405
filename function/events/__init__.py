"""The CloudEvents interface (Knative Kafka broker deliveries on ``POST /``): envelope parsing, event
types and their schemas, dispatch. Never imports ``function.http``; shares ``function.edge`` with it."""
