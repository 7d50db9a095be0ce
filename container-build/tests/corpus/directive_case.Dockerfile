# ESCAPE=`
# Syntax=docker/dockerfile:1
FROM busybox
RUN a `
 b
