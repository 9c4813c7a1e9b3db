# flashgate's image: built with the toolchain rust-toolchain.toml pins, run on Debian slim as a non-root
# user. The image also carries vnpay-sim, the VNPay simulator, for trial deployments.
FROM rust:1.95.0-slim-bookworm AS build
# The pinned toolchain is the image's own: no rustup download for rust-toolchain.toml's components.
ENV RUSTUP_TOOLCHAIN=1.95.0
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p flashgate -p vnpay-sim \
    && cp target/release/flashgate target/release/vnpay-sim /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/flashgate flashgate
COPY --from=build /usr/local/bin/flashgate /usr/local/bin/vnpay-sim /usr/local/bin/
USER flashgate
WORKDIR /var/lib/flashgate
# Off loopback (or behind a trusted proxy, or with a public URL) flashgate refuses the development
# secrets and the bundled simulator:
# FLASHGATE_ADMIN_TOKEN, FLASHGATE_JWT_SECRET, FLASHGATE_VNPAY__HASH_SECRET and VNPay's
# FLASHGATE_VNPAY__PAY_URL and FLASHGATE_VNPAY__API_URL must come from the environment.
ENV FLASHGATE_LISTEN=0.0.0.0:8080 \
    FLASHGATE_LOG__FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["flashgate"]
CMD ["serve"]
