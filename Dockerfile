# dunwell: a small, non-root runtime image built in two stages.
# docker build -t dunwell . && docker run -p 8080:8080 dunwell

# 1. Build. Dependencies first, into a layer of their own that stays cached
#    while only dunwell's sources change; then dunwell itself.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src bench \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && for example in loadgen ceiling drain; do echo 'fn main() {}' > bench/$example.rs; done \
    && cargo build --release --locked --bin dunwell \
    && rm -rf src bench
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin dunwell

# 2. Run: Debian slim with CA roots (Stripe and SMTP over TLS), as a
#    system user that owns only /data (SQLite's home when no PostgreSQL).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home dunwell
COPY --from=build /src/target/release/dunwell /usr/local/bin/dunwell
USER dunwell
WORKDIR /data
ENV DUNWELL_BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["dunwell", "serve"]
