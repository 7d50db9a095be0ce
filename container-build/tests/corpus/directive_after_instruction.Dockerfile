FROM busybox
# escape=`
RUN echo \
 hi
