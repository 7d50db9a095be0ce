FROM busybox AS dev
ENV DEBUG=1
COPY --link . /app
FROM dev AS test
RUN ["sh", "-c", "echo testing"]
FROM busybox AS prod
COPY --from=dev /app /app
USER 65534:65534
