FROM busybox
ENTRYPOINT ["top", "-b"]
ENTRYPOINT exec top -b
