FROM busybox
LABEL description="café — 日本語"
RUN echo über
