#!/usr/bin/env node
// A recording HTTP server for tests (node http, no dependencies), on
// 127.0.0.1 only. Prints its port as the first stdout line once listening
// (or writes it to --port-file FILE). Options:
//   --dir DIR          record request N (1, 2, ...) as DIR/N.json
//                      {method, url, headers, body (utf8)}, written before
//                      the reply is sent
//   --script FILE      a JSON array of replies {status, headers, body,
//                      bodyFile, delayMs} used in order, the last repeated;
//                      body: a string or any JSON value (sent as JSON);
//                      bodyFile: a path, relative to FILE's directory
//   --status N         the default reply's status (201)
//   --body FILE        the default reply's body ("{}"), application/json
//   --count-only       record nothing, only count (for benchmarks)
//   --count-file FILE  on SIGTERM/SIGINT write the request count there
// GET /__recorder/counts answers {"total":N,"paths":{"/path":N}} (requests
// per URL path, query left off) and is neither counted nor recorded.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const o = { status: 201 };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
	const k = a[i], v = () => { if (i + 1 >= a.length) die(`${k} needs a value`); return a[++i]; };
	if (k === '--dir') o.dir = v();
	else if (k === '--port-file') o.portFile = v();
	else if (k === '--script') o.script = v();
	else if (k === '--status') o.status = +v();
	else if (k === '--body') o.body = v();
	else if (k === '--count-only') o.countOnly = true;
	else if (k === '--count-file') o.countFile = v();
	else die(`unknown option ${k}`);
}
function die(m) { process.stderr.write(`recorder: ${m}\n`); process.exit(2); }

const json = { 'content-type': 'application/json' };
function reply(r, base) {
	let body = r.body;
	if (r.bodyFile) body = fs.readFileSync(path.resolve(base, r.bodyFile));
	else if (body === undefined) body = '';
	else if (typeof body !== 'string') body = JSON.stringify(body);
	body = Buffer.from(body);
	const headers = { ...json };
	for (const [k, v] of Object.entries(r.headers || {})) headers[k.toLowerCase()] = v;
	headers['content-length'] = body.length;
	return { status: r.status || 200, headers, body, delayMs: r.delayMs || 0 };
}
let script;
try {
	script = o.script
		? JSON.parse(fs.readFileSync(o.script, 'utf8')).map((r) => reply(r, path.dirname(o.script)))
		: [reply({ status: o.status, body: o.body ? fs.readFileSync(o.body, 'utf8') : '{}' })];
} catch (e) { die(e.message); }
if (!script.length) die('the script is empty');

let total = 0;
const paths = Object.create(null);
const server = http.createServer((req, res) => {
	const p = req.url.replace(/\?.*/, '');
	if (req.method === 'GET' && p === '/__recorder/counts') {
		res.writeHead(200, json);
		return res.end(JSON.stringify({ total, paths }));
	}
	const n = ++total;
	paths[p] = (paths[p] || 0) + 1;
	const r = script[Math.min(n, script.length) - 1];
	const send = () => {
		if (r.delayMs) setTimeout(() => res.writeHead(r.status, r.headers).end(r.body), r.delayMs);
		else res.writeHead(r.status, r.headers).end(r.body);
	};
	if (o.countOnly || !o.dir) { req.resume(); return req.on('end', send); }
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const rec = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
		const f = path.join(o.dir, `${n}.json`);
		fs.writeFileSync(f + '.tmp', JSON.stringify(rec) + '\n');
		fs.renameSync(f + '.tmp', f);
		send();
	});
});
server.keepAliveTimeout = 60000;
server.on('error', (e) => die(e.message));
server.listen(0, '127.0.0.1', () => {
	const port = `${server.address().port}\n`;
	if (!o.portFile) return process.stdout.write(port);
	fs.writeFileSync(o.portFile + '.tmp', port);
	fs.renameSync(o.portFile + '.tmp', o.portFile);
});
for (const s of ['SIGTERM', 'SIGINT']) {
	process.on(s, () => {
		if (o.countFile) fs.writeFileSync(o.countFile, `${total}\n`);
		process.exit(0);
	});
}
