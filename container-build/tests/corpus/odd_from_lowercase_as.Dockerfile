FROM busybox as Builder
FROM Builder
