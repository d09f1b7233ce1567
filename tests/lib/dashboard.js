// Drives the popgate dashboard in a real headless Chromium (playwright-core,
// the system's /usr/bin/chromium, a fresh profile each run). Usage:
//   node dashboard.js BASE_URL 'STEPS_JSON'
// STEPS_JSON is a list of steps, each [name, args...]; one browser page runs
// them in order and the result of each is printed as one JSON list on stdout.
// A failing step prints {"step_failed": ...} in its place and ends the run.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const TIMEOUT = 15000;

async function visibleView(page) {
	await page.waitForSelector("#login-view:not([hidden]), #quarantine-view:not([hidden]), " +
	    "#detail-view:not([hidden])", { timeout: TIMEOUT });
	return page.evaluate(() => ["login-view", "quarantine-view", "detail-view"]
	    .find((v) => !document.getElementById(v).hidden));
}

async function listReady(page) {
	await page.waitForSelector("#quarantine-view:not([hidden])", { timeout: TIMEOUT });
	await page.waitForFunction(() => document.querySelectorAll("#counts li").length > 0,
	    null, { timeout: TIMEOUT });
}

const steps = {
	async goto(page, base) {
		await page.goto(base + "/");
		return visibleView(page);
	},
	async reload(page) {
		await page.reload();
		return visibleView(page);
	},
	async login(page, base, user, password) {
		await page.waitForSelector("#login-view:not([hidden])", { timeout: TIMEOUT });
		await page.fill("#login-user", user);
		await page.fill("#login-password", password);
		await page.click("#login-submit");
		await page.waitForFunction(() => !document.getElementById("quarantine-view").hidden ||
		    document.getElementById("login-error").textContent !== "", null, { timeout: TIMEOUT });
		if (!(await page.isHidden("#quarantine-view")))
			await listReady(page);
		return { view: await visibleView(page), error: await page.textContent("#login-error"),
		    user: await page.textContent("#user-name") };
	},
	async rows(page) {
		await listReady(page);
		return page.evaluate(() => ({
			counts: [...document.querySelectorAll("#counts li")].map((li) => li.textContent),
			messages: [...document.querySelectorAll("#message-rows tr")].map((tr) => ({
				id: Number(tr.dataset.id),
				date: tr.querySelector(".date").textContent,
				account: tr.querySelector(".account").textContent,
				from: tr.querySelector(".from").textContent,
				subject: tr.querySelector(".subject").textContent,
				score: tr.querySelector(".score").textContent,
				reasons: tr.querySelector(".reasons").textContent,
			})),
			status: document.getElementById("status").textContent,
		}));
	},
	async open(page, base, subject) {
		await listReady(page);
		const row = page.locator("#message-rows tr").filter({
			has: page.locator("td.subject", { hasText: subject }) });
		await row.first().click();
		await page.waitForSelector("#detail-view:not([hidden])", { timeout: TIMEOUT });
		return page.evaluate(() => ({
			subject: document.getElementById("detail-subject").textContent,
			headers: document.getElementById("detail-headers").textContent,
			reasons: [...document.querySelectorAll("#detail-reasons li")].map((li) => li.textContent),
		}));
	},
	async act(page, base, what) {
		await page.click("#" + what);
		await page.waitForSelector("#quarantine-view:not([hidden])", { timeout: TIMEOUT });
		await page.waitForFunction(() => document.getElementById("status").textContent !== "",
		    null, { timeout: TIMEOUT });
		return page.textContent("#status");
	},
	async logout(page) {
		await page.click("#logout");
		await page.waitForSelector("#login-view:not([hidden])", { timeout: TIMEOUT });
		return { view: await visibleView(page), error: await page.textContent("#login-error") };
	},
	async probe(page) {
		return page.evaluate(() => ({
			title: document.title,
			pwned: window.__pwned === undefined ? null : window.__pwned,
			images: document.querySelectorAll("main img").length,
			scripts: document.querySelectorAll("script").length,
		}));
	},
};

async function main() {
	const base = process.argv[2];
	const plan = JSON.parse(process.argv[3]);
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), "popgate-chromium-"));
	const out = [];
	const dialogs = [], violations = [], errors = [];
	let browser;

	try {
		browser = await chromium.launchPersistentContext(profile, {
			executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
			headless: true,
			args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
		});
		const page = browser.pages()[0] || await browser.newPage();
		page.setDefaultTimeout(TIMEOUT);
		page.on("dialog", (d) => {
			dialogs.push(d.type() + ": " + d.message());
			d.accept();
		});
		page.on("console", (m) => {
			if (/Content.Security.Policy/i.test(m.text()))
				violations.push(m.text());
		});
		page.on("pageerror", (e) => errors.push(String(e)));
		for (const [name, ...args] of plan) {
			try {
				out.push(await steps[name](page, base, ...args));
			} catch (e) {
				out.push({ step_failed: name + ": " + String(e) });
				break;
			}
		}
		out.push({ dialogs: dialogs, csp_violations: violations, page_errors: errors,
		    cookies: (await browser.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly,
		    sameSite: c.sameSite, path: c.path })) });
	} finally {
		if (browser)
			await browser.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
	process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
	process.stderr.write(String(e && e.stack || e) + "\n");
	process.exit(1);
});
