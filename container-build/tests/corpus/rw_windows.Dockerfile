# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
RUN Invoke-WebRequest -Uri https://example.com/x.zip -OutFile x.zip; `
    Expand-Archive x.zip -DestinationPath C:\x; `
    Remove-Item x.zip
WORKDIR C:\x
CMD ["x.exe"]
