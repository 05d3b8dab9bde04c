# A real third-party smart host for the sender's TLS and AUTH tests:
# aiosmtpd (Debian's python3-aiosmtpd) on 127.0.0.1:PORT. Arguments:
#   PORT OUTDIR MODE CERT KEY USER PASSWORD MECHS AUTH_REQUIRE_TLS
# MODE is plain (no STARTTLS), starttls (offered) or implicit (TLS from the
# first byte); USER "" turns AUTH off, otherwise AUTH is required before
# MAIL; MECHS lists the mechanisms offered ("LOGIN,PLAIN", "PLAIN");
# AUTH_REQUIRE_TLS is 1 or 0. Each accepted message is written to OUTDIR as
# JSON {"from", "to", "data" (base64), "tls", "mech", "login", "helo"}.
# Prints "ready" when listening; runs until killed.
import base64, json, logging, os, signal, ssl, sys, warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, outdir, mode, cert, key, user, password, mechs, req_tls = sys.argv[1:10]
port = int(port)
# aiosmtpd warns about the insecure set-ups some tests make on purpose.
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
count = 0


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    if ok:
        session.mb_mech = mechanism
        session.mb_login = user
    # handled=False: aiosmtpd then replies 535 itself.
    return AuthResult(success=ok, handled=False)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        rec = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
               "data": base64.b64encode(envelope.original_content).decode(),
               "tls": session.ssl is not None or mode == "implicit",
               "mech": getattr(session, "mb_mech", ""),
               "login": getattr(session, "mb_login", ""),
               "helo": session.host_name}
        tmp = os.path.join(outdir, ".%06d.tmp" % count)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(outdir, "%06d.json" % count))
        return "250 2.0.0 OK aiosmtpd"


ctx = None
if mode != "plain":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

kwargs = dict(hostname="127.0.0.1", port=port, decode_data=False)
if mode == "starttls":
    kwargs["tls_context"] = ctx
if mode == "implicit":
    kwargs["ssl_context"] = ctx
if user:
    kwargs["authenticator"] = authenticator
    kwargs["auth_required"] = True
    kwargs["auth_require_tls"] = req_tls == "1"
    kwargs["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m not in mechs.split(",")]

c = Controller(Handler(), **kwargs)
c.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
c.stop()
