# One image for every persona: the container's argument names the service to run, e.g.
#   docker build -t safe-vault .
#   docker run -e SAFE_ADVERTISE_HOST=<name others dial> -e SAFE_POSTGRES_URL=... -e SAFE_REDIS_URL=... \
#     -e SAFE_KAFKA_BROKERS=... -v dm0:/data safe-vault services/data-manager/dist/main.js
# The entrypoint preloads the OpenTelemetry module (it exports spans only when
# OTEL_EXPORTER_OTLP_ENDPOINT is set). Built and run by `pnpm k8s images` and test/k8s (on a local
# node:20-bookworm-slim look-alike where nothing can be pulled: --build-arg NODE_IMAGE=...).

ARG NODE_IMAGE=node:20-bookworm-slim

# The workspace's manifests only, so the dependency layers are reused while only sources change.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
# pnpm-workspace.yaml's patchedDependencies: the install fails without the patch files.
COPY patches/ patches/
COPY packages/chunks/package.json packages/chunks/
COPY packages/client/package.json packages/client/
COPY packages/core/package.json packages/core/
COPY packages/grpc/package.json packages/grpc/
COPY packages/host/package.json packages/host/
COPY packages/kafka/package.json packages/kafka/
COPY packages/messages/package.json packages/messages/
COPY packages/proto/package.json packages/proto/
COPY packages/redis/package.json packages/redis/
COPY packages/sql/package.json packages/sql/
COPY packages/testnet/package.json packages/testnet/
COPY services/data-manager/package.json services/data-manager/
COPY services/maid-manager/package.json services/maid-manager/
COPY services/pmid-manager/package.json services/pmid-manager/
COPY services/pmid-node/package.json services/pmid-node/
COPY services/version-manager/package.json services/version-manager/
COPY services/mpid-manager/package.json services/mpid-manager/
COPY test/package.json test/

FROM ${NODE_IMAGE} AS pnpm
# CI: pnpm never waits for a prompt.
ENV CI=true
RUN npm install --global pnpm@10.34.8

FROM pnpm AS build
WORKDIR /app
COPY --from=manifests /app ./
RUN pnpm install --frozen-lockfile
COPY . .
# The per-package node_modules link dev dependencies too; the runtime takes the prod-deps ones.
RUN pnpm exec tsc -b && rm -rf packages/*/node_modules services/*/node_modules

# Production dependencies only (no TypeScript, vitest, Biome), installed fresh so none linger.
FROM pnpm AS prod-deps
WORKDIR /app
COPY --from=manifests /app ./
RUN pnpm install --frozen-lockfile --prod

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SAFE_DATA_DIR=/data \
    SAFE_GRPC_HOST=0.0.0.0 \
    SAFE_GRPC_PORT=50051 \
    SAFE_ADMIN_HOST=0.0.0.0 \
    SAFE_ADMIN_PORT=9464
WORKDIR /app
COPY --from=prod-deps /app ./
COPY --from=build /app/proto ./proto
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
# The node key and a PmidNode's chunks live on this volume; the image's `node` user (uid 1000) owns it.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 50051 9464
ENTRYPOINT ["node", "--import", "./packages/host/dist/otel.js"]
CMD ["services/maid-manager/dist/main.js"]
