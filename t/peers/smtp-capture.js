#!/usr/bin/env node
// A capturing SMTP server for tests (npm smtp-server), on 127.0.0.1 only.
// Prints its port as the first stdout line once listening (or writes it to
// --port-file FILE). Options:
//   --dir DIR          write message N (1, 2, ...) to DIR/N.eml as received
//                      (after dot-unstuffing) and its envelope to DIR/N.json:
//                      {mailFrom, rcptTo[], user, secure, size, heloName};
//                      every DATA outcome is appended to DIR/data.log
//                      ("250 N", "451 tempfail", "554 permfail", "drop")
//   --auth USER:PASS   require AUTH PLAIN/LOGIN (wrong credentials: 535)
//   --xoauth2 USER:TOKEN  require AUTH XOAUTH2 with that bearer token
//   --tls KEY,CERT     offer STARTTLS with that key and certificate
//   --secure           implicit TLS (smtps) instead; needs --tls
//   --require-tls      refuse MAIL FROM before STARTTLS (530)
//   --reject-rcpt S    550 for every recipient containing S
//   --tempfail N       answer the first N DATA with 451, then accept
//   --permfail         answer every DATA with 554
//   --drop-data N      destroy the connection in the middle of the first N
//                      messages' DATA
//   --max-size BYTES   advertise SIZE and refuse larger messages (552)
'use strict';
const fs = require('fs');
const path = require('path');
const { SMTPServer } = require('smtp-server');

const o = { tempfail: 0, dropData: 0 };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
	const k = a[i], v = () => { if (i + 1 >= a.length) die(`${k} needs a value`); return a[++i]; };
	if (k === '--dir') o.dir = v();
	else if (k === '--port-file') o.portFile = v();
	else if (k === '--auth') o.auth = v();
	else if (k === '--xoauth2') o.xoauth2 = v();
	else if (k === '--tls') o.tls = v().split(',');
	else if (k === '--secure') o.secure = true;
	else if (k === '--require-tls') o.requireTls = true;
	else if (k === '--reject-rcpt') o.rejectRcpt = v();
	else if (k === '--tempfail') o.tempfail = +v();
	else if (k === '--permfail') o.permfail = true;
	else if (k === '--drop-data') o.dropData = +v();
	else if (k === '--max-size') o.maxSize = +v();
	else die(`unknown option ${k}`);
}
function die(m) { process.stderr.write(`smtp-capture: ${m}\n`); process.exit(2); }
if ((o.secure || o.requireTls) && !o.tls) die('--secure and --require-tls need --tls KEY,CERT');
const fail = (code, msg) => Object.assign(new Error(msg), { responseCode: code });
const log = (line) => o.dir && fs.appendFileSync(path.join(o.dir, 'data.log'), line + '\n');
let seen = 0, saved = 0;

const server = new SMTPServer({
	disableReverseLookup: true, logger: false, banner: 'jrn test peer',
	secure: !!o.secure, key: o.tls && fs.readFileSync(o.tls[0]), cert: o.tls && fs.readFileSync(o.tls[1]),
	disabledCommands: [...(o.tls ? [] : ['STARTTLS']), ...(o.auth || o.xoauth2 ? [] : ['AUTH'])],
	authOptional: !(o.auth || o.xoauth2), allowInsecureAuth: true,
	authMethods: o.xoauth2 ? ['XOAUTH2'] : ['PLAIN', 'LOGIN'],
	size: o.maxSize || 0,
	onAuth(auth, session, cb) {
		if (auth.method === 'XOAUTH2') {
			if (`${auth.username}:${auth.accessToken}` === o.xoauth2) return cb(null, { user: auth.username });
			return cb(null, { data: { status: '401', schemes: 'bearer' } });
		}
		if (`${auth.username}:${auth.password}` === o.auth) return cb(null, { user: auth.username });
		cb(fail(535, 'Error: authentication failed'));
	},
	onMailFrom(addr, session, cb) {
		if (o.requireTls && !session.secure) return cb(fail(530, 'Error: must issue a STARTTLS command first'));
		cb();
	},
	onRcptTo(addr, session, cb) {
		if (o.rejectRcpt && addr.address.includes(o.rejectRcpt)) return cb(fail(550, `Error: no such user <${addr.address}>`));
		cb();
	},
	onData(stream, session, cb) {
		const n = ++seen, chunks = [];
		if (n <= o.dropData) {
			stream.once('data', () => {
				log('drop');
				for (const c of server.connections) if (c.id === session.id) c._socket.destroy();
			});
			stream.resume();
			return;
		}
		stream.on('data', (c) => chunks.push(c));
		stream.on('end', () => {
			if (stream.sizeExceeded) return cb(); // smtp-server answers 552 itself
			if (o.permfail) { log('554 permfail'); return cb(fail(554, 'Error: transaction failed (test peer)')); }
			if (n - o.dropData <= o.tempfail) { log('451 tempfail'); return cb(fail(451, 'Error: try again later (test peer)')); }
			const id = ++saved, body = Buffer.concat(chunks), env = session.envelope;
			if (o.dir) {
				fs.writeFileSync(path.join(o.dir, `${id}.eml`), body);
				const meta = {
					mailFrom: env.mailFrom ? env.mailFrom.address : null, rcptTo: env.rcptTo.map((r) => r.address),
					user: session.user || null, secure: !!session.secure, size: body.length,
					heloName: session.hostNameAppearsAs || null,
				};
				fs.writeFileSync(path.join(o.dir, `${id}.json.tmp`), JSON.stringify(meta) + '\n');
				fs.renameSync(path.join(o.dir, `${id}.json.tmp`), path.join(o.dir, `${id}.json`));
			}
			log(`250 ${id}`);
			cb(null, `OK: queued as ${id}`);
		});
	},
});
server.on('error', (e) => { if (e.code === 'EADDRINUSE' || e.code === 'EACCES') die(e.message); });
server.listen(0, '127.0.0.1', () => {
	const port = `${server.server.address().port}\n`;
	if (!o.portFile) return process.stdout.write(port);
	fs.writeFileSync(o.portFile + '.tmp', port);
	fs.renameSync(o.portFile + '.tmp', o.portFile);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
