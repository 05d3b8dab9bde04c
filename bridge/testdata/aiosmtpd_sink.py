# A real third-party SMTP sink for the bridge tests: aiosmtpd (Debian's
# python3-aiosmtpd) on 127.0.0.1:PORT, writing each accepted message to
# OUTDIR as JSON {"from", "to", "data" (base64)}. Prints "ready" when
# listening; runs until killed.
import asyncio, base64, json, os, sys, signal

from aiosmtpd.controller import Controller

port, outdir = int(sys.argv[1]), sys.argv[2]
count = 0

class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        rec = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
               "data": base64.b64encode(envelope.original_content).decode()}
        tmp = os.path.join(outdir, ".%06d.tmp" % count)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(outdir, "%06d.json" % count))
        return "250 2.0.0 OK aiosmtpd"

c = Controller(Handler(), hostname="127.0.0.1", port=port, decode_data=False)
c.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
c.stop()
