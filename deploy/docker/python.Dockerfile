# syntax=docker/dockerfile:1
# One image recipe for every Python process of the platform. docker-compose.yml builds it once per
# service with PACKAGE set to the package to run (`python -m $PACKAGE`): the layers below the ARG
# are shared, so the dependencies are installed once.
#
#   docker build -f deploy/docker/python.Dockerfile --target run --build-arg PACKAGE=order_service .
#   docker build -f deploy/docker/python.Dockerfile --target gateway .   # with the web app

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# -- web: the web app (web/), built from its lock file; only the gateway's image takes it -------
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# -- build: the locked environment, made by uv from uv.lock ----------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first (cached until pyproject.toml or uv.lock change), then the project itself.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev

# -- run: the environment and the sources, nothing else ----------------------------------------
FROM ${PYTHON_IMAGE} AS run
RUN groupadd --system platform && useradd --system --gid platform --home-dir /app platform
WORKDIR /app
COPY --from=build --chown=platform:platform /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER platform
ARG PACKAGE=gateway
ENV PACKAGE=${PACKAGE}
# exec: the process gets SIGTERM from `docker stop` and shuts down cleanly (consumers commit,
# the relay marks what Kafka acknowledged, services leave Eureka).
CMD ["sh", "-c", "exec python -m \"$PACKAGE\""]

# -- gateway: the run stage plus the built web app it serves at / (GATEWAY_WEB_DIST) -------------
# Every other service builds `--target run`, which never builds the web stage.
FROM run AS gateway
COPY --from=web --chown=platform:platform /web/dist /app/web/dist
