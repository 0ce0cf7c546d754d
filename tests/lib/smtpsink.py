#!/usr/bin/python3
# smtpsink.py PORT DIR: an SMTP server on 127.0.0.1:PORT for the tests, whose
# mind is in DIR/mode (read at each step):
#   ok      take every mail: DIR/out/N.env (the MAIL and RCPT lines) and
#           DIR/out/N.eml (the message, dots undone, as received: CRLF)
#   temp    451 to RCPT TO;  perm  550 to RCPT TO
#   noutf8  as ok, without SMTPUTF8 in the EHLO reply
# It writes its port to DIR/ready once listening.
import os
import socketserver
import sys

port, d = int(sys.argv[1]), sys.argv[2]
os.makedirs(os.path.join(d, "out"), exist_ok=True)


def mode():
    with open(os.path.join(d, "mode")) as f:
        return f.read().strip()


class Session(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.send("220 sink.test ESMTP")
        env = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = line[:4].upper()
            if verb == "EHLO":
                ext = ["8BITMIME"] + ([] if mode() == "noutf8" else ["SMTPUTF8"])
                self.send("250-sink.test")
                for i, e in enumerate(ext):
                    self.send(("250 " if i == len(ext) - 1 else "250-") + e)
            elif verb == "MAIL":
                env = [line]
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                m = mode()
                if m == "temp":
                    self.send("451 4.3.0 try again later")
                elif m == "perm":
                    self.send("550 5.1.1 no such user")
                else:
                    env.append(line)
                    self.send("250 2.1.5 ok")
            elif verb == "DATA":
                self.send("354 go on")
                body = b""
                while True:
                    raw = self.rfile.readline()
                    if raw in (b".\r\n", b""):
                        break
                    if raw.startswith(b"."):
                        raw = raw[1:]
                    body += raw
                n = len(os.listdir(os.path.join(d, "out"))) // 2
                with open(os.path.join(d, "out", "%d.eml" % n), "wb") as f:
                    f.write(body)
                with open(os.path.join(d, "out", "%d.env" % n), "w") as f:
                    f.write("\n".join(env) + "\n")
                self.send("250 2.0.0 queued as %d" % n)
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 5.5.2 what")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("127.0.0.1", port), Session) as s:
    with open(os.path.join(d, "ready"), "w") as f:
        f.write("%d\n" % port)
    s.serve_forever()
