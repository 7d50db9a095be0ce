# syntax=docker/dockerfile:1
# escape=`
# check=skip=all
FROM busybox
RUN echo `
 hi
