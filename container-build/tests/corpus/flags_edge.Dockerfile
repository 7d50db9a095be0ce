FROM busybox
COPY --from=x -- a b
COPY --chown=1 --- a b
RUN --mount=type=cache,target=/x
COPY -a b
COPY --link=false a b
