FROM busybox
LABEL a=b
LABEL "com.example.vendor"="ACME Incorporated" version="1.0" description="This text illustrates \
 that label-values can span multiple lines."
LABEL multi.label1="value1" \
      multi.label2="value2" \
      other="value3"
LABEL old style value
