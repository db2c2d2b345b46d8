# syntax=docker/dockerfile:1
# natter: the one `natter` binary on a slim Debian base.
#   docker build -t natter .
#   docker run -p 1883:1883 -p 8080:8080 -v natter-data:/data natter

# --- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds (BuildKit); the
# binary is copied out of the cached target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p natter \
    && install -D -m 0755 target/release/natter /out/bin/natter
# Config files: config/<NATTER_ENV>.toml. config/ is also the natter-config
# crate, so leave its Cargo.toml out.
RUN mkdir -p /out/etc/natter \
    && cp config/*.toml /out/etc/natter/ \
    && rm -f /out/etc/natter/Cargo.toml

# --- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 natter \
    && useradd --system --uid 10001 --gid natter --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin natter \
    && mkdir -p /data \
    && chown natter:natter /data

COPY --from=build /out/bin/natter /usr/local/bin/natter
COPY --from=build /out/etc/natter/ /etc/natter/

ENV NATTER_ENV=production \
    NATTER_CONFIG_DIR=/etc/natter \
    NATTER__DATA_DIR=/data
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# 1883: MQTT, 8080: HTTP (API, /healthz, metrics)
EXPOSE 1883 8080
ENTRYPOINT ["/usr/local/bin/natter"]
CMD ["serve"]
