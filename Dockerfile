# One image for the three services; the compose file picks the command.
# The dashboard's chart library comes from npm, pinned by package-lock.json.
FROM node:20-slim AS dashboard-assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
COPY deploy ./deploy
COPY --from=dashboard-assets /build/node_modules/echarts/dist/echarts.min.js /build/node_modules/echarts/LICENSE \
     ./services/api/dashboard/vendor/
RUN pip install .
USER nobody
EXPOSE 8080 8000
