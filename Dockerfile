# A small image whose entrypoint is the command itself:
#   docker run --rm --env-file local.env IMAGE -c CLUSTER -n SERVICE -i IMAGE
# Build with --build-arg LOCK=requirements-sandbox.lock for the image that also runs the
# local sandbox. Dependencies come from the lock file only: pinned and hashed (`make lock`).
FROM python:3.12-slim

ARG LOCK=requirements.lock
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY requirements.lock requirements-sandbox.lock ./
RUN pip install --require-hashes --no-deps -r "${LOCK}"
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-deps --no-build-isolation /src \
    && rm -rf /src \
    && useradd --create-home --uid 10001 ecsdeploy

USER 10001
WORKDIR /home/ecsdeploy
ENTRYPOINT ["ecs-deploy"]
CMD ["--help"]
