FROM busybox
RUN apt-get update && \
# comment in the middle
    apt-get install -y curl \
    # indented comment
    && rm -rf /var/lib/apt/lists/*
