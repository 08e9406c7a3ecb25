# nest-gateway: built with dev dependencies, run with production ones only, as a non-root user,
# on the supported Node LTS line of .nvmrc (CI tests on it too).
ARG NODE_LINE=24
FROM node:${NODE_LINE}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npx nest build

FROM node:${NODE_LINE}-bookworm-slim
# glibc's malloc as `npm start` tunes it (see docs/performance.md).
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.top_pad=4194304 \
    GATEWAY_CONFIG=/etc/nest-gateway/gateway.yaml \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# Nest and fastify are peer dependencies: npm installs them here too (docs/development.md).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The example services, so that the compose file runs the whole demo from one image.
COPY demo ./demo
# The config is mounted here; the image's default is the demo's.
COPY demo/gateway.config.yaml /etc/nest-gateway/gateway.yaml
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains in-flight requests (server.shutdownGracePeriod) and exits 0.
CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=50", "--liftoff-only", "--no-allocation-site-pretenuring", "dist/main.js"]
