FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin epochdb

FROM debian:bookworm-slim
COPY --from=build /src/target/release/epochdb /usr/local/bin/epochdb
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/epochdb"]
