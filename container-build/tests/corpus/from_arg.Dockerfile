ARG BASE=busybox
ARG TAG=latest
FROM ${BASE}:${TAG}
ARG TAG
RUN echo $TAG
