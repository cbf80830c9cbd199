"""Operator figures from Rasa's event stream: a RabbitMQ consumer and the figures it keeps."""
