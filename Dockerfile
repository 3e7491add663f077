# Keyward with SoftHSM2. Production deployments point KEYWARD_HSM_MODULE at their own PKCS#11
# module and mount the data dir (or use PostgreSQL via KEYWARD_DATABASE_URL).
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The admin console (Vite + Preact) is built into dist/console, which the server serves at /console.
COPY console ./console
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 opensc openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY scripts ./scripts
RUN mkdir /data && chown node:node /data
ENV KEYWARD_DATA_DIR=/data KEYWARD_LISTEN=0.0.0.0:8080 NODE_ENV=production
VOLUME /data
EXPOSE 8080
USER node
# start.mjs creates the SoftHSM2 token and the CA in /data on first run, then serves.
CMD ["node", "scripts/start.mjs"]
