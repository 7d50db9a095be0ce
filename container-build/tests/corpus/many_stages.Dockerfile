FROM busybox AS s0
RUN echo 0 > /f0
FROM busybox AS s1
RUN echo 1 > /f1
FROM busybox AS s2
RUN echo 2 > /f2
FROM busybox AS s3
RUN echo 3 > /f3
FROM busybox AS s4
RUN echo 4 > /f4
FROM busybox AS s5
RUN echo 5 > /f5
FROM busybox AS s6
RUN echo 6 > /f6
FROM busybox AS s7
RUN echo 7 > /f7
FROM busybox AS s8
RUN echo 8 > /f8
FROM busybox AS s9
RUN echo 9 > /f9
FROM busybox AS s10
RUN echo 10 > /f10
FROM busybox AS s11
RUN echo 11 > /f11
FROM busybox
COPY --from=s0 /f0 /
COPY --from=s1 /f1 /
COPY --from=s2 /f2 /
COPY --from=s3 /f3 /
COPY --from=s4 /f4 /
COPY --from=s5 /f5 /
COPY --from=s6 /f6 /
COPY --from=s7 /f7 /
COPY --from=s8 /f8 /
COPY --from=s9 /f9 /
COPY --from=s10 /f10 /
COPY --from=s11 /f11 /
