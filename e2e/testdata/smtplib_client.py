#!/usr/bin/python3
"""Drives mailbridge with Python's smtplib for the e2e tests.

usage: smtplib_client.py HOST PORT MODE [SAVE]

Prints one JSON object: {"code": N, "reply": "..."} for the reply to the
message (DATA), or the refusal of an earlier command. SAVE, when given,
receives the exact message bytes handed to smtplib.
"""
import email.message
import hashlib
import json
import smtplib
import sys


def attachment_message(megabytes):
    msg = email.message.EmailMessage()
    msg["From"] = "py@example.com"
    msg["To"] = "docs@example.org"
    msg["Subject"] = "attachment of %d MB" % megabytes
    msg.set_content("see attached\n")
    # Deterministic, incompressible-looking bytes without reading urandom.
    block = hashlib.sha512(b"mailbridge").digest() * 16384  # 1 MiB
    data = block * megabytes
    msg.add_attachment(data, maintype="application", subtype="octet-stream",
                       filename="scan-%dmb.pdf" % megabytes)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    save = sys.argv[4] if len(sys.argv) > 4 else None
    sender, rcpts, opts = "py@example.com", ["docs@example.org"], []
    if mode == "multi":
        rcpts = ["a@example.org", "b@example.net", "c@example.com"]
        body = b"Subject: multi\r\n\r\nthree recipients\r\n"
    elif mode == "null":
        sender = ""
        body = b"Subject: bounce\r\n\r\nnull sender\r\n"
    elif mode == "dots":
        # smtplib dot-stuffs these lines; the Drop file must hold them as
        # written here.
        body = b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nend\r\n."
    elif mode == "lfbytes":
        # A script's usual way: a message built with the email package and
        # sent as bytes, whose lines end in LF alone (the compat32 policy);
        # smtplib dot-stuffs after each LF and ends with CRLF.CRLF.
        m = email.message.Message()
        m["Subject"] = "lf"
        m.set_payload(".\n..\n.leading\nend\n")
        body = m.as_bytes()
    elif mode == "utf8":
        sender, rcpts = "jos\u00e9@example.com", ["\u7528\u6237@\u4f8b\u5b50.example"]
        opts = ["SMTPUTF8"]
        body = "Subject: caf\u00e9\r\n\r\nUTF-8 body \u00e9\u00e8\r\n".encode("utf-8")
    elif mode.startswith("attach"):
        body = attachment_message(int(mode[len("attach"):]))
    else:
        sys.exit("unknown mode " + mode)
    if save:
        with open(save, "wb") as f:
            f.write(body)
    s = smtplib.SMTP(host, port, local_hostname="python.test", timeout=120)
    try:
        if mode == "utf8":
            # The documented way: sendmail with mail_options.
            try:
                s.sendmail(sender, rcpts, body, mail_options=opts)
                code, reply = 250, "accepted"
            except smtplib.SMTPResponseException as e:
                code, reply = e.smtp_code, e.smtp_error
        else:
            s.ehlo()
            code, reply = s.mail(sender, opts)
            for r in rcpts:
                if code == 250:
                    code, reply = s.rcpt(r)
            if code == 250:
                code, reply = s.data(body)
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        print(json.dumps({"code": code, "reply": reply}))
    finally:
        try:
            s.quit()
        except Exception:
            pass


if __name__ == "__main__":
    main()
