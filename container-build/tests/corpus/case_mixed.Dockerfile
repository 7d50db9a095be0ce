from busybox
Run echo x
cMd ["a"]
env a=b
CoPy a b
