# logpaste in one container: the app, the official Litestream binary and s6-overlay.
# docker_entrypoint.sh decides how it runs (see docs/replication.md).
#
#   docker build -t logpaste .
#   docker buildx build --platform linux/amd64,linux/arm64 -t logpaste .
#
# Nothing here needs BuildKit (no RUN --mount, TARGETARCH optional): Heroku's heroku.yml
# builds, and other classic builders, take this file as it is.
#
# Stopping: the app stops first, then Litestream makes its final sync to the bucket,
# then one `litestream replicate -once` pass (logpaste-final-sync) ships whatever is
# left, even a paste written in Litestream's first second. Give it time: Docker's
# default 10 s stop timeout is enough for a healthy bucket; for slow links use
# `docker stop -t 30`, `stop_grace_period: 30s` (Compose),
# `terminationGracePeriodSeconds: 30` (Kubernetes) or `kill_timeout = 30` (Fly.io).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build: the release binary, dependencies cached between builds ----------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The locked dependencies, compiled in a layer of their own against a stand-in crate: it
# only reruns when they (or SQLite's build options) change.
COPY Cargo.toml Cargo.lock ./
COPY .cargo/config.toml .cargo/config.toml
RUN mkdir src && touch src/lib.rs && echo 'fn main() {}' > src/main.rs \
    && cargo build --release --locked --bin logpaste \
    && rm -rf src
COPY . .
# The stand-in's artifacts go first: COPY keeps the sources' own times, which may be older
# than the stand-in's build, and Cargo would then take the stand-in for up to date.
RUN cargo clean --release -p logpaste \
    && cargo build --release --locked --bin logpaste \
    && install -D -m 0755 target/release/logpaste /out/usr/local/bin/logpaste

# ---- fetch: Litestream and s6-overlay, pinned by version and by sha256 -----------
# The digests are those of the release assets; each was read from several independent
# pins of the same release, since this repository's machines cannot download them.
# To bump a version: download the assets, `sha256sum` them (s6-overlay also publishes
# a .sha256 file beside each asset) and update the pairs below together.
FROM debian:${DEBIAN_RELEASE}-slim AS fetch
ARG TARGETARCH
ARG LITESTREAM_VERSION=0.5.17
ARG LITESTREAM_SHA256_AMD64=cfb371176d164437ae869f8351cfde49bd1804ae71c61923f75c9cba9c9c006d
ARG LITESTREAM_SHA256_ARM64=f8ca4a050095c1efbda2c4365172e61bf9d955ea0d9ac42f448b52e51819baa5
ARG S6_OVERLAY_VERSION=3.2.3.2
ARG S6_OVERLAY_SHA256_NOARCH=5379750ed30a84bbd2e2dd74847ba6b5bd29cd0b2e3ea2ec58049b57eb2eda12
ARG S6_OVERLAY_SHA256_X86_64=e6befcc96a437a3831386ecfc51808c5d3e939dc5fe3c02ae9284599e8aa2408
ARG S6_OVERLAY_SHA256_AARCH64=b17f17a82e7a515c682a91edaf2ffdabb73f891981b6c1fd712115693a2f8b4c
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Build-stage tools only; their exact Debian versions do not reach the image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl xz-utils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /fetch
# TARGETARCH comes from BuildKit; a classic builder leaves it empty: then the build
# machine's own architecture.
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && case "${arch}" in \
      amd64) litestream_arch=x86_64; litestream_sha256="${LITESTREAM_SHA256_AMD64}"; \
             s6_arch=x86_64; s6_sha256="${S6_OVERLAY_SHA256_X86_64}" ;; \
      arm64) litestream_arch=arm64; litestream_sha256="${LITESTREAM_SHA256_ARM64}"; \
             s6_arch=aarch64; s6_sha256="${S6_OVERLAY_SHA256_AARCH64}" ;; \
      *) echo "unsupported architecture: ${arch} (amd64 and arm64 are)" >&2; exit 1 ;; \
    esac \
    && litestream_url="https://github.com/benbjohnson/litestream/releases/download/v${LITESTREAM_VERSION}" \
    && s6_url="https://github.com/just-containers/s6-overlay/releases/download/v${S6_OVERLAY_VERSION}" \
    && curl -fsSL --retry 3 -o litestream.tar.gz \
         "${litestream_url}/litestream-${LITESTREAM_VERSION}-linux-${litestream_arch}.tar.gz" \
    && curl -fsSL --retry 3 -o s6-overlay-noarch.tar.xz "${s6_url}/s6-overlay-noarch.tar.xz" \
    && curl -fsSL --retry 3 -o s6-overlay-arch.tar.xz "${s6_url}/s6-overlay-${s6_arch}.tar.xz" \
    && printf '%s  %s\n' \
         "${litestream_sha256}" litestream.tar.gz \
         "${S6_OVERLAY_SHA256_NOARCH}" s6-overlay-noarch.tar.xz \
         "${s6_sha256}" s6-overlay-arch.tar.xz \
       | sha256sum -c - \
    && mkdir -p /rootfs/usr/local/bin \
    && tar -xzf litestream.tar.gz -C /rootfs/usr/local/bin litestream \
    && tar -C /rootfs -Jxpf s6-overlay-noarch.tar.xz \
    && tar -C /rootfs -Jxpf s6-overlay-arch.tar.xz

# ---- runtime ---------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates for HTTPS to the bucket, curl for the health check; util-linux
# (setpriv, unshare) is part of the base image.
# LogPaste's image kept its database in /app/data (its README mounts a volume there:
# `--volume "${PWD}/data:/app/data"`). /app/data leads to /data, so such a volume is
# mounted at /data and its store.db is served, not left aside for an empty database.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 logpaste \
    && useradd --system --uid 10001 --gid logpaste --no-create-home \
         --home-dir /nonexistent --shell /usr/sbin/nologin logpaste \
    && mkdir -p /data /app \
    && chown logpaste:logpaste /data \
    && ln -s /data /app/data

COPY --from=fetch /rootfs/ /
COPY --from=build /out/ /
COPY rootfs/ /
COPY litestream.yml /etc/litestream.yml
COPY docker_entrypoint.sh /usr/local/bin/docker_entrypoint.sh

# The app, the restore and Litestream run as `logpaste`; s6-overlay itself runs as root.
# S6_BEHAVIOUR_IF_STAGE2_FAILS=2: a failed restore stops the container.
# S6_CMD_WAIT_FOR_SERVICES_MAXTIME=0: a restore of a big database may take its time.
ENV DB_PATH=/data/store.db \
    PORT=3001 \
    DB_SYNC_INTERVAL=1s \
    LOGPASTE_USER=logpaste \
    S6_BEHAVIOUR_IF_STAGE2_FAILS=2 \
    S6_CMD_WAIT_FOR_SERVICES_MAXTIME=0 \
    S6_VERBOSITY=1

WORKDIR /data
EXPOSE 3001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS \"http://127.0.0.1:${PORT:-3001}/healthz\" || exit 1"]
ENTRYPOINT ["/usr/local/bin/docker_entrypoint.sh"]
