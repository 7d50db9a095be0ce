FROM busybox
FOO bar
RUNX echo
