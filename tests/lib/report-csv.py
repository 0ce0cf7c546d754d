#!/usr/bin/python3
# report-csv.py MAIL: prints the CSV attachment (*-report.csv) of an
# enrolment report mail, decoded (an independent MIME parser: Python's).
import email
import sys
from email import policy

m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
for part in m.walk():
    if (part.get_filename() or '').endswith('-report.csv'):
        sys.stdout.write(part.get_content())
