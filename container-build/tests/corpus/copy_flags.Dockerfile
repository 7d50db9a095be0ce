FROM busybox AS base
FROM busybox
COPY --from=base /bin/busybox /bb
COPY --chown=user:group --chmod=755 files* /somedir/
COPY --link /foo /bar
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --exclude=*.md --exclude=.git . /src
COPY ["--from", "x"]
COPY --from=0 a b
