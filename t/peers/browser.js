// browser.js URL [SELECTOR...]: drives headless Debian chromium over the
// DevTools protocol on a pipe (--remote-debugging-pipe: requests on fd 3,
// answers on fd 4, each a JSON text ended by a NUL byte), with no npm
// dependency. Opens URL, waits for its load event (images included), then
// for each SELECTOR clicks the centre of the element it names with real
// mouse events (Input.dispatchMouseEvent: a trusted click, as a person's,
// not a script's element.click()) and waits for the page it leads to.
// Prints one JSON line per page: {"url": location.href, "text": the body's
// text}. The profile directory is $CHROME_PROFILE. Exits 1 with a message
// when an element is missing or a page does not load within 15 s.
'use strict';
const { spawn } = require('child_process');

const [url, ...selectors] = process.argv.slice(2);
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	`--user-data-dir=${process.env.CHROME_PROFILE}`, '--remote-debugging-pipe', 'about:blank'];
const chrome = spawn('/usr/bin/chromium', args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
const toChrome = chrome.stdio[3], fromChrome = chrome.stdio[4];

let seq = 0, buf = Buffer.alloc(0), listeners = [];
const pending = new Map();
fromChrome.on('data', (d) => {
	buf = Buffer.concat([buf, d]);
	let i;
	while ((i = buf.indexOf(0)) >= 0) {
		const m = JSON.parse(buf.subarray(0, i).toString());
		buf = buf.subarray(i + 1);
		if (m.id && pending.has(m.id)) {
			const p = pending.get(m.id);
			pending.delete(m.id);
			if (m.error) p.reject(new Error(JSON.stringify(m.error)));
			else p.resolve(m.result);
		} else {
			listeners.forEach((l) => l(m));
		}
	}
});

function send(method, params = {}, sessionId) {
	const m = { id: ++seq, method, params };
	if (sessionId) m.sessionId = sessionId;
	toChrome.write(JSON.stringify(m) + '\0');
	return new Promise((resolve, reject) => pending.set(m.id, { resolve, reject }));
}

function waitFor(name, sessionId) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`no ${name} within 15 s`)), 15000);
		const l = (m) => {
			if (m.method === name && m.sessionId === sessionId) {
				clearTimeout(t);
				listeners = listeners.filter((x) => x !== l);
				resolve(m.params);
			}
		};
		listeners.push(l);
	});
}

async function evaluate(expression, sessionId) {
	const r = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
	return r.result.value;
}

async function report(sessionId) {
	const page = await evaluate('JSON.stringify({url: location.href, text: document.body ? document.body.innerText : ""})', sessionId);
	process.stdout.write(page + '\n');
}

(async () => {
	const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
	const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
	await send('Page.enable', {}, sessionId);
	let loaded = waitFor('Page.loadEventFired', sessionId);
	await send('Page.navigate', { url }, sessionId);
	await loaded;
	await report(sessionId);
	for (const sel of selectors) {
		const at = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(sel)});
			if (!e) return null; e.scrollIntoView(); const b = e.getBoundingClientRect();
			return JSON.stringify({x: b.left + b.width / 2, y: b.top + b.height / 2}); })()`, sessionId);
		if (!at) throw new Error(`no element ${sel}`);
		const { x, y } = JSON.parse(at);
		loaded = waitFor('Page.loadEventFired', sessionId);
		for (const type of ['mousePressed', 'mouseReleased'])
			await send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 }, sessionId);
		await loaded;
		await report(sessionId);
	}
	await send('Browser.close').catch(() => {});
	chrome.kill();
	process.exit(0);
})().catch((e) => {
	process.stderr.write(`browser.js: ${e.message}\n`);
	chrome.kill();
	process.exit(1);
});
