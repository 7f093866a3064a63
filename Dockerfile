# A small image whose entrypoint is the command itself:
#   docker run --rm --env-file local.env IMAGE -c CLUSTER -n SERVICE -i IMAGE
# Build with --build-arg EXTRAS=[sandbox] for the image that also runs the local sandbox.
FROM python:3.12-slim

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".${EXTRAS}" \
    && rm -rf /src \
    && useradd --create-home --uid 10001 ecsdeploy

USER ecsdeploy
WORKDIR /home/ecsdeploy
ENTRYPOINT ["ecs-deploy"]
CMD ["--help"]
