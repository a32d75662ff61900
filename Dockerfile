# The feed provider image: the same bundle `npm run build:provider` makes for local runs, on Node.js 20,
# running as the unprivileged `node` user with a read-only root file system (state lives in PostgreSQL;
# /data is an emptyDir for the key file and SQLite only when no PostgreSQL is configured).
#   docker build -t feed-provider:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:provider \
 && cd dist/provider \
 && npm install --omit=dev --no-audit --no-fund --allow-scripts=better-sqlite3 \
 && rm -f *.map

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PROVIDER_HOST=0.0.0.0 \
    PROVIDER_PORT=3300 \
    PROVIDER_DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=root:root /src/dist/provider/ /app/
USER node
EXPOSE 3300
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.cjs"]
ENTRYPOINT ["node", "/app/main.cjs"]
