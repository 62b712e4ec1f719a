# The edge: nginx (deploy/nginx/navigator.conf) with the parents' portal built in. The portal
# is built from web/ exactly as package-lock.json pins it; its API client is the committed one.
FROM node:20-alpine AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

FROM nginx:1.27-alpine
COPY deploy/nginx/navigator.conf /etc/nginx/conf.d/default.conf
COPY --from=web /web/dist /usr/share/nginx/html
