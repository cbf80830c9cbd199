# The Rasa 3.6 server (Python 3.10) with the trained model and nlu/'s components.
#
#   docker build -f deploy/rasa.Dockerfile --build-arg MODEL=models/csbot.tar.gz -t csbot/rasa .
#
# BASE defaults to the public image; deploy/build-local.sh builds with a local one and a
# wheelhouse (deploy/wheels/py310). The model is trained outside (`csbot train`) and copied in.
ARG BASE=python:3.10-slim

FROM ${BASE} AS build
WORKDIR /src
COPY requirements-rasa.txt constraints-rasa.txt ./
COPY deploy/wheels/py310/ /wheels/
RUN python3 -m venv /opt/venv \
    && if ls /wheels/*.whl >/dev/null 2>&1; then \
         /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -c constraints-rasa.txt -r requirements-rasa.txt; \
       else \
         /opt/venv/bin/pip install --no-cache-dir -c constraints-rasa.txt -r requirements-rasa.txt; \
       fi

FROM ${BASE}
RUN useradd --system --create-home --home-dir /home/rasa rasa
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config.yml domain.yml credentials.yml endpoints.yml event-broker.yml ./
COPY nlu/ nlu/
# nlu.server installs the project's log masking (standard library only) before Rasa starts
COPY core/__init__.py core/redact.py core/privacy.py core/
ARG MODEL=models/csbot.tar.gz
COPY ${MODEL} models/csbot.tar.gz
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 HOME=/home/rasa RASA_INTERFACE=0.0.0.0 RASA_PORT=5005
RUN chown -R rasa /app
USER rasa
EXPOSE 5005
# RASA_AUTH_TOKEN (required), ACTION_ENDPOINT_URL, ACTION_SERVER_TOKEN, TRACKER_STORE_URL come from
# the environment. With EVENT_BROKER_URL (and _USERNAME, _PASSWORD, _PORT, _EXCHANGE, _QUEUE) set,
# event-broker.yml is appended to endpoints.yml: every conversation event goes to RabbitMQ.
CMD ["sh", "-c", "cp endpoints.yml /tmp/endpoints.yml && if [ -n \"$EVENT_BROKER_URL\" ]; then printf '\\n' >> /tmp/endpoints.yml && cat event-broker.yml >> /tmp/endpoints.yml; fi && exec python -m nlu.server run --enable-api --interface \"$RASA_INTERFACE\" --port \"$RASA_PORT\" --model models/csbot.tar.gz --endpoints /tmp/endpoints.yml --credentials credentials.yml"]
