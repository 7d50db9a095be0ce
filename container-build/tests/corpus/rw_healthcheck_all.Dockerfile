FROM busybox
HEALTHCHECK --interval=10s --timeout=2s --start-period=30s --start-interval=2s --retries=5 \
    CMD ["wget", "-q", "--spider", "http://127.0.0.1/"]
