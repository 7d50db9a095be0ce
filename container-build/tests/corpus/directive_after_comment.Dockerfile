# a comment
# escape=`
FROM busybox
RUN echo \
 hi
