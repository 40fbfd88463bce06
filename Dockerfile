# rectify - multi-stage image on Debian 12 (bookworm-slim).
#
#   docker build -t rectify .
#   docker run --rm -v /etc/rectify:/etc/rectify:ro -p 127.0.0.1:9187:9187 rectify
#
# The build machines of this project have no Docker engine: this file is kept
# simple and is not built in CI. See docs/compose.yml for a full stack.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config uthash-dev libjemalloc-dev \
      libhiredis-dev librdkafka-dev libpq-dev libcjson-dev libcurl4-openssl-dev libssl-dev \
      libuv1-dev libinih-dev libpcre2-dev libsystemd-dev libmicrohttpd-dev libgmp-dev libicu-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_TESTS=OFF -DRF_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" \
 && install -D -m 0755 /build/rectifyd /out/usr/bin/rectifyd \
 && install -D -m 0755 /build/rectifyctl /out/usr/bin/rectifyctl \
 && install -D -m 0644 conf/rectify.conf /out/etc/rectify/rectify.conf

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 librdkafka1 libpq5 libcjson1 libcurl4 libssl3 libuv1 libinih1 \
      libpcre2-8-0 libsystemd0 libmicrohttpd12 libgmp10 libicu72 libjemalloc2 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/rectify --create-home \
      --shell /usr/sbin/nologin rectify
COPY --from=build /out/ /
USER rectify
# Config and secrets are mounted: /etc/rectify/rectify.conf, and the files its
# password_file / key_file name (e.g. /run/secrets/...).
VOLUME ["/etc/rectify", "/var/lib/rectify"]
EXPOSE 9187
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9187/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/rectifyd"]
CMD ["-c", "/etc/rectify/rectify.conf"]
