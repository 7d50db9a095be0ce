# check=skip=JSONArgsRecommended;error=true
FROM busybox
CMD echo hi
