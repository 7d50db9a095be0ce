FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential \
        ca-certificates \
        curl \
        git \
    && rm -rf /var/lib/apt/lists/*
ENV CC=gcc CXX=g++
WORKDIR /build
COPY . .
RUN make -j"$(nproc)" && make install
