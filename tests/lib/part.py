#!/usr/bin/python3
# part.py MAIL NAME OUT: writes the attachment NAME of MAIL (the decoded
# bytes of the first part with that filename) to OUT; exit 1 when there is
# none. Python's email package, independent of certgate's MIME code.
import email
import sys
from email import policy

m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
for part in m.walk():
    if part.get_filename() == sys.argv[2]:
        data = part.get_payload(decode=True)
        open(sys.argv[3], "wb").write(data)
        sys.exit(0)
sys.exit(1)
