FROM busybox
RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=0,gid=0 echo hi
