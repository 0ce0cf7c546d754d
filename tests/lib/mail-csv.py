#!/usr/bin/python3
# mail-csv.py MAIL NAME [JSON]: prints the CSV attachment NAME of a mail
# certgate sent, decoded by an independent MIME parser (Python's). With
# JSON (a file of `certgate --json cert list` output) it instead compares
# the attachment, a status certificates.csv, row by row with it: exit 0 when
# they hold the same certificates with the same serial, mailbox, profile,
# notAfter, status, daysLeft and renewedBy; else it prints the difference.
import csv
import email
import io
import json
import sys
from email import policy

m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
text = None
for part in m.walk():
    if part.get_filename() == sys.argv[2]:
        text = part.get_content()
if text is None:
    sys.exit('no attachment ' + sys.argv[2])
if len(sys.argv) < 4:
    sys.stdout.write(text)
    sys.exit(0)
rows = {r['serial']: r for r in csv.DictReader(io.StringIO(text))}
want = {c['serial']: c for c in json.load(open(sys.argv[3]))}
bad = []
if set(rows) != set(want):
    bad.append('serials differ: csv %s, json %s' % (sorted(rows), sorted(want)))
for s in set(rows) & set(want):
    for k in ('mailbox', 'profile', 'notAfter', 'status', 'daysLeft', 'renewedBy'):
        if str(rows[s][k]) != str(want[s][k]):
            bad.append('%s %s: csv %r, json %r' % (s, k, rows[s][k], want[s][k]))
if bad:
    sys.exit('\n'.join(bad))
print('%d certificates agree' % len(rows))
