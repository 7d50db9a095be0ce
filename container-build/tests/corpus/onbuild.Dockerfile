FROM busybox
ONBUILD ADD . /app/src
ONBUILD RUN /usr/local/bin/python-build --dir /app/src
ONBUILD COPY --from=x a b
ONBUILD ENV A=b
ONBUILD CMD ["x"]
