FROM busybox
RUN --mount=type=bind,source=.,target=/src,from=build,rw echo hi
RUN --mount=target=/x,src=a,ro=true ls /x
