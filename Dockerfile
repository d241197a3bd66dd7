# shadows: one image for the HTTP gateway and the workers.
#
#   docker build -t shadows .
#   docker run --rm -e SHADOWS_URL=redis://redis:6379 -e SHADOWS_TOKENS='s3cret-token:enqueue,read' -p 8080:8080 shadows serve
#   docker run --rm -e SHADOWS_URL=redis://redis:6379 shadows worker
#
# The tasks module defaults to the example tasks (SHADOWS_TASKS). For your own, build FROM this image,
# COPY your compiled module under /app (where `import … from 'shadows'` resolves) and set SHADOWS_TASKS.

ARG NODE_VERSION=20

# --- build: all dependencies, compile TypeScript to dist/ ---------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
COPY routes ./routes
RUN node scripts/build.mjs

# --- runtime: production dependencies and dist/ only, not root -----------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist

# In a container the gateway must listen on every interface to be reachable, and without tokens it
# refuses to: `serve` then exits 2 asking for SHADOWS_TOKENS. Workers ignore HOST and PORT.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    SHADOWS_TASKS=/app/dist/src/examples/tasks.js

# No HEALTHCHECK here: the image runs either command, and each is checked on its own port. `serve`
# answers /health/live and /health/ready on PORT; a worker does on SHADOWS_HEALTH_PORT when set
# (on 127.0.0.1 unless SHADOWS_HEALTH_HOST says otherwise, e.g. 0.0.0.0 for Kubernetes probes).
# docker-compose.yml checks both; docs/deploying.md has Kubernetes probes.

# the unprivileged user of the node images (uid 1000); nothing under /app is writable by it
USER node
EXPOSE 8080

# node handles SIGTERM itself (PID 1, or under `--init` / compose `init: true`): the gateway stops accepting, workers finish running
# tasks within SHADOWS_GRACE_PERIOD (give `docker stop -t` / stop_grace_period a bit more).
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
