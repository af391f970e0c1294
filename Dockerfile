# Image of the gateway. Build it with `docker build -t event-gateway .`, or start it with
# PostgreSQL and RabbitMQ by `docker compose up --build`.

# The build stage installs every dependency, because the postinstall script runs
# `prisma generate` with the Prisma CLI, a devDependency. It then removes the
# devDependencies, except prisma and typescript, which npm keeps as optional peer
# dependencies of @prisma/client. The generated client in src/generated/prisma stays.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/generate-prisma.mjs ./scripts/
RUN npm ci && npm prune --omit=dev && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# The files stay owned by root, so the service, running as `node`, cannot change its code.
COPY package.json tsconfig.json ./
COPY openapi ./openapi
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/src/generated/prisma ./src/generated/prisma
USER node
EXPOSE 3000
# Node runs as PID 1, without npm in between, so it receives SIGTERM and shuts down cleanly.
CMD ["node", "--import", "tsx", "src/main.ts"]
