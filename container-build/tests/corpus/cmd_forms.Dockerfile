FROM busybox
CMD echo shell form
CMD ["echo", "exec form"]
CMD []
