FROM busybox
CMD ["", ""]
ENTRYPOINT []
