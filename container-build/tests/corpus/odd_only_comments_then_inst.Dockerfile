# only
# comments

# then
FROM busybox
