FROM busybox
RUN --mount=type=secret,id=token,target=/run/secrets/token,required=true,mode=0400,uid=1,gid=1 cat /run/secrets/token
RUN --mount=type=secret,id=aws,env=AWS_KEY true
