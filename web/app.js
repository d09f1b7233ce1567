/*
 * popgate dashboard: log in, list the quarantine of the user's accounts,
 * show one message, release / confirm / delete it. Every piece of message
 * text reaches the page through textContent, never as HTML.
 */
"use strict";

const API = "/api/v1";
let csrf = "";
let current = null;     /* the message shown in the detail view */

function $(id) {
	return document.getElementById(id);
}

function el(tag, text, cls) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null)
		e.textContent = String(text);
	if (cls)
		e.className = cls;
	return e;
}

function show(view) {
	for (const v of ["login-view", "quarantine-view", "detail-view"])
		$(v).hidden = v !== view;
	$("who").hidden = view === "login-view";
}

function setStatus(text, isError) {
	const s = $("status");
	s.textContent = text || "";
	s.className = isError ? "error" : "";
}

/* One API call: the parsed body, or an Error carrying .status and the API's message. */
async function api(method, path, body) {
	const opts = { method: method, headers: {}, credentials: "same-origin" };
	if (method !== "GET" && csrf)
		opts.headers["X-CSRF-Token"] = csrf;
	if (body !== undefined) {
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body);
	}
	const resp = await fetch(API + path, opts);
	let data = null;
	try {
		data = await resp.json();
	} catch (e) {
		data = null;
	}
	if (!resp.ok) {
		const err = new Error(data && data.error ? data.error : "HTTP " + resp.status);
		err.status = resp.status;
		throw err;
	}
	return data;
}

function fmtDate(m) {
	if (m.fetched) {
		const d = new Date(m.fetched * 1000);
		if (!isNaN(d.getTime()))
			return d.toLocaleString();
	}
	return m.date || "";
}

function fmtReason(r) {
	if (r === null || typeof r !== "object")
		return String(r);
	if (r.token !== undefined)
		return r.token + " (" + Number(r.prob).toFixed(2) + ")";
	if (r.rule !== undefined)
		return r.rule + (r.detail ? ": " + r.detail : "");
	return JSON.stringify(r);
}

function topReasons(m, n) {
	return (m.reasons || []).slice(0, n).map(fmtReason).join(", ");
}

function loggedOut(message) {
	csrf = "";
	current = null;
	$("message-rows").replaceChildren();
	$("counts").replaceChildren();
	$("login-password").value = "";
	$("login-error").textContent = message || "";
	show("login-view");
	$("login-user").focus();
}

/* A 401 in the middle of things means the session ended: back to the login form. */
function failed(err) {
	if (err.status === 401)
		loggedOut("Your session has ended; please log in again.");
	else
		setStatus(err.message, true);
}

async function loadList() {
	const [list, accounts] = await Promise.all([api("GET", "/quarantine?limit=500"),
	    api("GET", "/accounts")]);
	const counts = $("counts");
	counts.replaceChildren();
	for (const a of accounts.accounts) {
		const li = el("li", a.account + ": " + a.quarantined);
		li.dataset.account = a.account;
		counts.appendChild(li);
	}
	const rows = $("message-rows");
	rows.replaceChildren();
	for (const m of list.messages) {
		const tr = document.createElement("tr");
		tr.tabIndex = 0;
		tr.dataset.id = String(m.id);
		tr.appendChild(el("td", fmtDate(m), "date"));
		tr.appendChild(el("td", m.account, "account"));
		tr.appendChild(el("td", m.from, "from"));
		tr.appendChild(el("td", m.subject, "subject"));
		tr.appendChild(el("td", Number(m.score).toFixed(3), "score"));
		tr.appendChild(el("td", topReasons(m, 3), "reasons"));
		tr.addEventListener("click", () => openMessage(m.id));
		tr.addEventListener("keydown", (ev) => {
			if (ev.key === "Enter")
				openMessage(m.id);
		});
		rows.appendChild(tr);
	}
	$("messages").hidden = list.messages.length === 0;
	$("empty").hidden = list.messages.length !== 0;
	if (list.total > list.messages.length)
		setStatus("Showing the first " + list.messages.length + " of " + list.total + " messages.");
}

async function showList(message) {
	current = null;
	show("quarantine-view");
	setStatus(message || "");
	try {
		await loadList();
		if (message)
			setStatus(message);
	} catch (err) {
		failed(err);
	}
}

async function openMessage(id) {
	let m;
	try {
		m = await api("GET", "/quarantine/" + encodeURIComponent(id));
	} catch (err) {
		failed(err);
		return;
	}
	current = m;
	$("detail-subject").textContent = m.subject || "(no subject)";
	const meta = $("detail-meta");
	meta.replaceChildren();
	for (const [k, v] of [["Account", m.account], ["From", m.from], ["Date", m.date],
	    ["Fetched", fmtDate(m)], ["Score", Number(m.score).toFixed(3)], ["Size", m.size + " bytes"]]) {
		meta.appendChild(el("dt", k));
		meta.appendChild(el("dd", v));
	}
	const reasons = $("detail-reasons");
	reasons.replaceChildren();
	for (const r of m.reasons || [])
		reasons.appendChild(el("li", fmtReason(r)));
	$("detail-headers").textContent = m.headers || "(the message body was not kept)";
	for (const b of ["release", "confirm", "delete"])
		$(b).disabled = false;
	show("detail-view");
}

async function act(what) {
	if (current === null)
		return;
	const id = current.id, subject = current.subject || "(no subject)";
	if (what === "delete" && !window.confirm("Delete \u201c" + subject + "\u201d for good?"))
		return;
	for (const b of ["release", "confirm", "delete"])
		$(b).disabled = true;
	try {
		if (what === "delete")
			await api("DELETE", "/quarantine/" + id);
		else
			await api("POST", "/quarantine/" + id + "/" + what);
	} catch (err) {
		for (const b of ["release", "confirm", "delete"])
			$(b).disabled = false;
		if (err.status === 401)
			failed(err);
		else
			window.alert(err.message);
		return;
	}
	const done = { release: "Released", confirm: "Confirmed as spam", delete: "Deleted" }[what];
	await showList(done + ": " + subject);
}

async function login(ev) {
	ev.preventDefault();
	const err = $("login-error");
	err.textContent = "";
	$("login-submit").disabled = true;
	try {
		const me = await api("POST", "/login", { user: $("login-user").value,
		    password: $("login-password").value });
		csrf = me.csrf;
		$("user-name").textContent = me.name;
		$("login-password").value = "";
		await showList();
	} catch (e) {
		err.textContent = e.status === 401 ? "Wrong user name or password." : e.message;
		$("login-password").value = "";
	} finally {
		$("login-submit").disabled = false;
	}
}

async function logout() {
	try {
		await api("POST", "/logout");
	} catch (e) {
		/* the session is gone either way */
	}
	loggedOut("You are logged out.");
}

async function start() {
	$("login-form").addEventListener("submit", login);
	$("logout").addEventListener("click", logout);
	$("back").addEventListener("click", () => showList());
	$("release").addEventListener("click", () => act("release"));
	$("confirm").addEventListener("click", () => act("confirm"));
	$("delete").addEventListener("click", () => act("delete"));
	try {
		const me = await api("GET", "/me");
		if (!me.csrf)
			throw new Error("not a browser session");
		csrf = me.csrf;
		$("user-name").textContent = me.name;
		await showList();
	} catch (e) {
		loggedOut("");
	}
}

document.addEventListener("DOMContentLoaded", start);
