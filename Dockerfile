# caddy-lore: Caddy with the lore module, built with xcaddy from this checkout.
#
#   docker build -t caddy-lore .
#   docker compose up          # with Redis: see compose.yaml
#
# Stage 1 builds on the official Go image; stage 2 is a small Alpine image
# running Caddy as the unprivileged user "caddy" (uid 10001), allowed to bind
# ports below 1024 (a TLS site on 443) through a file capability only.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION}-alpine AS build
ARG CADDY_VERSION=v2.11.9
ARG XCADDY_VERSION=v0.4.5
RUN go install github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}
WORKDIR /src
# Dependencies first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The module path is unpublished: xcaddy needs the placeholder version
# @v0.0.0=. (see docs/operations.md, "Building with xcaddy").
RUN CGO_ENABLED=0 xcaddy build ${CADDY_VERSION} \
		--with github.com/caddy-lore/caddy-lore@v0.0.0=. \
		--output /out/caddy \
	&& /out/caddy list-modules | grep -qx http.handlers.lore

FROM alpine:${ALPINE_VERSION}
RUN apk add --no-cache ca-certificates tzdata libcap \
	&& adduser -D -H -u 10001 -s /sbin/nologin caddy \
	&& mkdir -p /etc/caddy /config /data \
	&& chown caddy:caddy /config /data
COPY --from=build /out/caddy /usr/bin/caddy
RUN setcap cap_net_bind_service=+ep /usr/bin/caddy && apk del libcap
COPY examples/docker.Caddyfile /etc/caddy/Caddyfile
# Caddy keeps its autosaved config under XDG_CONFIG_HOME and certificates
# under XDG_DATA_HOME: mount a volume on /data for a TLS site.
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
USER caddy
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/usr/bin/caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
