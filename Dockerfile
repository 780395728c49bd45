# cascade: one image for every role (worker, api, flower, metrics, emulator); the command picks.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CASCADE_CONFIG=/etc/cascade/cascade.yaml \
    CASCADE_LOG_FORMAT=json

WORKDIR /src
COPY pyproject.toml README.md ./
COPY broker ./broker
COPY routing ./routing
COPY adapters ./adapters
COPY workers ./workers
RUN pip install . \
    && mkdir -p /etc/cascade \
    && cp broker/cascade.yaml /etc/cascade/cascade.yaml \
    && useradd --system --uid 10001 --no-create-home cascade

WORKDIR /home/cascade
USER cascade

ENTRYPOINT ["cascade"]
CMD ["--help"]
