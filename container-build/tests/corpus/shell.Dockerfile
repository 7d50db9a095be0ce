FROM busybox
SHELL ["/bin/sh", "-c"]
SHELL ["powershell", "-command"]
RUN Write-Host hello
