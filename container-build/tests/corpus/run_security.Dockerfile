FROM busybox
RUN --security=insecure echo insecure
RUN --security=sandbox echo sandbox
