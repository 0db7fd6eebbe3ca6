# One xetcd member. Configure it with XETCD_* environment variables (every
# flag has one: --initial-cluster is XETCD_INITIAL_CLUSTER); see
# docs/configuration.md and docker-compose.yml.
FROM node:20-bookworm-slim

WORKDIR /opt/xetcd
COPY package.json package-lock.json ./
# Scripts off: `prepare` (npm run build) needs the sources, copied below.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY machines ./machines
COPY src ./src
COPY web ./web
COPY scripts/build.ts ./scripts/
COPY tsconfig.json ./
# The commands bundled into dist/, and the dashboard page into dist/dashboard.
RUN npm run build

# The data lives in a volume owned by the unprivileged user the member runs as.
RUN mkdir -p /var/lib/xetcd && chown node:node /var/lib/xetcd
USER node
ENV XETCD_DATA_DIR=/var/lib/xetcd
VOLUME ["/var/lib/xetcd"]
EXPOSE 2379

ENTRYPOINT ["node", "bin/xetcd.js"]
