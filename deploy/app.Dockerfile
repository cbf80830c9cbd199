# The Python 3.12 roles of csbot from one build: the gateway (WeChat webhook, agent console,
# voice workers in its process pool), the action server and the analytics consumer.
#
#   docker build -f deploy/app.Dockerfile --target gateway   -t csbot/gateway .
#   docker build -f deploy/app.Dockerfile --target actions   -t csbot/actions .
#   docker build -f deploy/app.Dockerfile --target analytics -t csbot/analytics .
#
# BASE defaults to the public image; deploy/build-local.sh builds with a local one and a
# wheelhouse (deploy/wheels/py312), as machines without registry access must. No secrets are
# baked in: every secret comes from the environment at run time (README, Deployment).
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml constraints-py312.txt ./
COPY deploy/wheels/py312/ /wheels/
# The project's runtime dependencies (pyproject.toml), pinned by the lock; from the wheelhouse when
# one was staged, else from PyPI.
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
    && python3 -m venv /opt/venv \
    && if ls /wheels/*.whl >/dev/null 2>&1; then \
         /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -c constraints-py312.txt -r requirements.txt; \
       else \
         /opt/venv/bin/pip install --no-cache-dir -c constraints-py312.txt -r requirements.txt; \
       fi

FROM ${BASE} AS runtime
RUN useradd --system --create-home --home-dir /home/csbot csbot
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The source tree as `csbot` runs it (python -m bot); Rasa's files are in the Rasa image.
COPY alembic.ini ./
COPY migrations/ migrations/
COPY core/ core/
COPY billing/ billing/
COPY wechat/ wechat/
COPY voice/ voice/
COPY analytics/ analytics/
COPY handoff/ handoff/
COPY gateway/ gateway/
COPY actions/ actions/
COPY bot/ bot/
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CSBOT_VAR_DIR=/var/lib/csbot
RUN mkdir -p /var/lib/csbot && chown csbot /var/lib/csbot && find /app -name '__pycache__' -prune -exec rm -rf {} +
USER csbot

FROM runtime AS actions
ENV ACTION_HOST=0.0.0.0 ACTION_PORT=5055
EXPOSE 5055
CMD ["python", "-m", "bot.action_server", "--actions", "actions"]

FROM runtime AS analytics
CMD ["python", "-m", "bot", "analytics", "consume"]

FROM runtime AS gateway
USER root
# voice notes: AMR is decoded with ffmpeg (voice/decode.py); the Vosk model is mounted at VOSK_MODEL_PATH
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
USER csbot
ENV PORT=8080 GATEWAY_HOST=0.0.0.0 AGENT_HOST=0.0.0.0 AGENT_PORT=8090 INTERNAL_HOST=0.0.0.0 INTERNAL_PORT=9180
EXPOSE 8080 8090 9180
CMD ["python", "-m", "bot", "gateway"]
