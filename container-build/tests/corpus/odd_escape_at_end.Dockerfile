FROM busybox
ENV A=b\\
LABEL c="d\\"
