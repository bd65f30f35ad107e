# syntax=docker/dockerfile:1
# Build stage: wheels of habitctl and all its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY habitctl ./habitctl
COPY daemon ./daemon
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: the wheels installed into a venv, run as an unprivileged user. The wheels
# are bind-mounted from the build stage, so they never become a layer of this image.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/habitctl/bin:$PATH \
    HABITCTL_DATA_DIR=/var/lib/habitctl \
    HABITCTL_STATE_DIR=/var/lib/habitctl/state
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/habitctl \
    && /opt/habitctl/bin/pip install --no-cache-dir --no-index --find-links=/wheels habitctl \
    && useradd --system --create-home --home-dir /var/lib/habitctl --uid 10001 habitctl
USER 10001
WORKDIR /var/lib/habitctl
EXPOSE 8000
# The daemon's check (database reachable, schema current); compose gives `api` its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["habitctl-daemon", "--check"]
CMD ["habitctl-daemon"]
