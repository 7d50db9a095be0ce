FROM busybox
ONBUILD --x=y RUN echo
ONBUILD COPY --from=a b c
