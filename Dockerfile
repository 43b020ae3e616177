FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin dunwell

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/dunwell /usr/local/bin/dunwell
WORKDIR /data
EXPOSE 8080
CMD ["dunwell", "serve"]
