# One xetcd member. Configure it with XETCD_* environment variables (every
# flag has one: --initial-cluster is XETCD_INITIAL_CLUSTER); see
# docs/configuration.md and docker-compose.yml.
FROM node:20-bookworm-slim

WORKDIR /opt/xetcd
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY machines ./machines
COPY src ./src
# The dashboard page, bundled by the member on its first request.
COPY web ./web
COPY tsconfig.json ./

# The data lives in a volume owned by the unprivileged user the member runs as.
RUN mkdir -p /var/lib/xetcd && chown node:node /var/lib/xetcd
USER node
ENV XETCD_DATA_DIR=/var/lib/xetcd
VOLUME ["/var/lib/xetcd"]
EXPOSE 2379

ENTRYPOINT ["node", "bin/xetcd.js"]
