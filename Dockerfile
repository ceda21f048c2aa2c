# Multi-stage build: dependencies and the wheel are built in a throwaway stage;
# the runtime image holds only the virtualenv and runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --upgrade pip
COPY pyproject.toml setup.cfg README.md ./
COPY engine engine
COPY actors actors
COPY api api
COPY persistence persistence
RUN /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cryptobot \
    && mkdir -p /data && chown cryptobot:cryptobot /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=/data/cryptobot.db \
    PORT=8080 \
    LOG_FORMAT=json
USER cryptobot
WORKDIR /home/cryptobot
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 CMD ["cryptobot", "healthcheck"]
# Migrations run when the engine starts; a bad environment exits with status 2.
CMD ["gunicorn", "--config", "python:api.gunicorn_conf", "api.wsgi:app"]
