# One image for every persona: the container's argument names the service to run, e.g.
#   docker build -t safe-vault .
#   docker run -e SAFE_POSTGRES_URL=... safe-vault services/data-manager/dist/main.js
# The entrypoint preloads the OpenTelemetry module (it exports spans only when
# OTEL_EXPORTER_OTLP_ENDPOINT is set). Written to be right by reading: no Docker engine was
# available where it was written, so it has not been built there (see README.md, Kubernetes).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV CI=true
RUN npm install --global pnpm@10.34.8
WORKDIR /app
# Manifests first, so the dependency layer is reused while only sources change.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/chunks/package.json packages/chunks/
COPY packages/client/package.json packages/client/
COPY packages/core/package.json packages/core/
COPY packages/grpc/package.json packages/grpc/
COPY packages/host/package.json packages/host/
COPY packages/kafka/package.json packages/kafka/
COPY packages/redis/package.json packages/redis/
COPY packages/sql/package.json packages/sql/
COPY packages/testnet/package.json packages/testnet/
COPY services/data-manager/package.json services/data-manager/
COPY services/maid-manager/package.json services/maid-manager/
COPY services/pmid-manager/package.json services/pmid-manager/
COPY services/pmid-node/package.json services/pmid-node/
COPY test/package.json test/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm exec tsc -b
# Drop the devDependencies (TypeScript, vitest, Biome) from the tree the runtime stage copies.
RUN pnpm install --frozen-lockfile --prod --offline

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SAFE_DATA_DIR=/data \
    SAFE_GRPC_HOST=0.0.0.0 \
    SAFE_GRPC_PORT=50051 \
    SAFE_ADMIN_HOST=0.0.0.0 \
    SAFE_ADMIN_PORT=9464
WORKDIR /app
COPY --from=build /app/package.json /app/pnpm-workspace.yaml ./
COPY --from=build /app/node_modules ./node_modules
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
