# syntax=docker/dockerfile:1
# Build stage: a venv with the locked dependencies (every file's hash checked), then habitctl
# itself, built with the locked setuptools: nothing is resolved or fetched unpinned.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/habitctl \
    && /opt/habitctl/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY habitctl ./habitctl
COPY daemon ./daemon
COPY migrations ./migrations
RUN /opt/habitctl/bin/pip install --no-deps --no-build-isolation . \
    && /opt/habitctl/bin/pip uninstall --yes setuptools

# Runtime stage: the venv, run as an unprivileged user (uid and gid 10001, no login shell).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/habitctl/bin:$PATH \
    HABITCTL_DATA_DIR=/var/lib/habitctl \
    HABITCTL_STATE_DIR=/var/lib/habitctl/state
# A regular (not --system) account: 10001 is above SYS_UID_MAX. The state directory exists in
# the image so a volume mounted there starts out owned by the user (the `cli` service's).
RUN groupadd --gid 10001 habitctl \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /var/lib/habitctl --shell /usr/sbin/nologin habitctl \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/habitctl /var/lib/habitctl/state
COPY --from=build /opt/habitctl /opt/habitctl
USER 10001:10001
WORKDIR /var/lib/habitctl
EXPOSE 8000
# The daemon's check (database reachable, schema current); compose gives `api` its own and
# turns it off for the one-shot `migrate` and `cli`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["habitctl-daemon", "--check"]
CMD ["habitctl-daemon"]
