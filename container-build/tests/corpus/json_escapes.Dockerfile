FROM busybox
CMD ["a\"b", "\u00e9", "tab\there", "back\\slash"]
