/* sockdrill timeline: draws the page's data (the JSON block #sd-data, docs/scenarios.md
 * "Timeline") as lanes of marks. No library and no network: the page is one file.
 *
 * A run has one or two backends; each backend has a lane per actor (and one for the steps of
 * a scenario). A call is a mark at its place on the axis (step, call order or time), a call
 * that blocked a span from its start to its completion, a fault's note a triangle. Marks of
 * the failing step carry the class `failed`, of a step whose outcome differs between sim and
 * real `differs`. Only the marks inside the visible window are in the document, so a trace
 * of thousands of calls scrolls and zooms quickly. */
(function () {
	"use strict";
	var data = JSON.parse(document.getElementById("sd-data").textContent);
	var SVGNS = "http://www.w3.org/2000/svg";
	var LANE_H = 28, AXIS_H = 20, LABEL_W = 170;
	var state = { run: 0, axis: "step", zoom: 1, hiddenActors: {}, hiddenConns: {}, sel: null };
	var model = null; /* the selected run, laid out: lanes, marks, connections */

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
		if (text !== undefined) e.textContent = text;
		return e;
	}
	function sel(tag, attrs) {
		var e = document.createElementNS(SVGNS, tag);
		for (var k in attrs) e.setAttribute(k, attrs[k]);
		return e;
	}
	function category(call) {
		if (/^(connect|accept|listen|bind|socket)$/.test(call)) return "c-conn";
		if (/^(send|recv|sendmsg|recvmsg)$/.test(call)) return "c-data";
		if (/^(close|shutdown)$/.test(call)) return "c-close";
		if (/^(poll|epoll_wait|join|sleep|wake)$/.test(call)) return "c-wait";
		return "c-other";
	}
	function failedRun(r) {
		return r.backends.some(function (b) { return b.status === "failed"; });
	}

	/* ---- the model: one run's lanes, marks and connections ----------------------------- */

	/* Pairs the two ends of each connection: a connect to port P with an accept on a socket
	 * bound to P (to any port, when the bind asked for port 0), oldest first; every later
	 * call on either descriptor belongs to it. */
	function connections(b, bi, conns) {
		var bound = {}, pending = [], fdConn = {};
		function take(side, port) {
			for (var k = 0; k < pending.length; k++) {
				var c = pending[k];
				if (c[side] < 0 && (port === "?" || c.port === "?" || c.port === port)) {
					pending.splice(k, 1);
					if (c.port === "?") c.port = port;
					return c;
				}
			}
			return null;
		}
		b.events.forEach(function (ev, i) {
			var m, c;
			if (ev.c === "bind" && ev.r === 0)
				bound[ev.fd] = (m = /:(\d+)\)$/.exec(ev.t)) && m[1] !== "0" ? m[1] : "?";
			if (ev.fd >= 0 && fdConn[ev.fd] !== undefined) ev.conn = fdConn[ev.fd];
			if (ev.c === "connect" && (ev.r === 0 || ev.rs === "-EINPROGRESS")) {
				var port = (m = /:(\d+)\)$/.exec(ev.t)) ? m[1] : "?";
				if ((c = take("from", port))) c.from = i;
				else {
					c = { id: conns.length, backend: bi, port: port, from: i, to: -1 };
					conns.push(c);
					pending.push(c);
				}
				fdConn[ev.fd] = ev.conn = c.id;
			} else if (ev.c === "accept" && ev.r >= 0) {
				var p = bound[ev.fd] || "?";
				if ((c = take("to", p))) c.to = i;
				else {
					c = { id: conns.length, backend: bi, port: p, from: -1, to: i };
					conns.push(c);
					pending.push(c);
				}
				fdConn[ev.r] = ev.conn = c.id;
			}
			if (ev.c === "close" && ev.r === 0) delete fdConn[ev.fd];
		});
	}

	/* Where each event sits on the chosen axis: x and, for a call that blocked, x2. */
	function place(b, axis) {
		var evs = b.events, n = evs.length;
		if (axis === "time") {
			var t0 = Infinity;
			evs.forEach(function (ev) { t0 = Math.min(t0, ev.s); });
			evs.forEach(function (ev) { ev.x = (ev.s - t0) / 1e6; ev.x2 = (ev.e - t0) / 1e6; });
			return;
		}
		if (axis === "seq" || !b.outcomes.length) {
			/* a call's order is when it completed; a span starts where its start falls */
			var starts = evs.map(function (ev, i) { return { s: ev.s, i: i }; });
			evs.forEach(function (ev, i) { ev.x = i + 0.5; ev.x2 = i + 0.5; });
			starts.forEach(function (o) {
				var ev = evs[o.i];
				if (ev.e > ev.s) { /* the first call that completed at or after its start */
					for (var j = o.i - 1; j >= 0 && evs[j].e > ev.s; j--) ev.x = j + 0.5;
				}
			});
			return;
		}
		/* steps: the calls started in step k spread over [k, k+1); a call that completed in
		 * a later step spans to there */
		var per = {}, seen = {}, maxStep = -1;
		evs.forEach(function (ev) { var k = Math.max(ev.st, 0); per[k] = (per[k] || 0) + 1; });
		evs.forEach(function (ev) {
			var k = Math.max(ev.st, 0);
			seen[k] = (seen[k] || 0) + 1;
			ev.x = k + seen[k] / (per[k] + 1);
			maxStep = Math.max(maxStep, k);
			ev.x2 = maxStep > k ? maxStep + 0.5 : ev.x;
		});
	}

	/* A scenario's own calls run on its main actor: their lane is the step's role (the
	 * "server:" of "server: send(S, ...)"); a call in the background has its actor's name. */
	function laneOf(b, ev) {
		var o = b.outcomes[ev.st], m;
		if (ev.a === "main" && o && (m = /^([A-Za-z_][\w.-]*):\s/.exec(o.c))) return m[1];
		return ev.a || "?";
	}

	function build() {
		var r = data.runs[state.run];
		var lanes = [], conns = [], differs = {}, extent = 1;
		(r.differs || []).forEach(function (k) { differs[k] = true; });
		r.backends.forEach(function (b, bi) {
			b.failedSteps = {};
			b.outcomes.forEach(function (o, k) {
				if (!o.ok || k === b.failed_at) b.failedSteps[k] = true;
			});
			connections(b, bi, conns);
			place(b, state.axis);
			var byActor = {}, first = true;
			if (b.outcomes.length) {
				lanes.push({ backend: b.name, bi: bi, actor: "steps", steps: true, first: first,
					marks: [] });
				first = false;
				extent = Math.max(extent, b.outcomes.length);
			}
			b.events.forEach(function (ev, i) {
				ev.i = i;
				ev.lane = laneOf(b, ev);
				var a = ev.lane;
				if (!byActor[a]) {
					byActor[a] = { backend: b.name, bi: bi, actor: a, first: first, marks: [] };
					first = false;
					lanes.push(byActor[a]);
				}
				byActor[a].marks.push(ev);
				extent = Math.max(extent, ev.x2 + 0.5, ev.x + 0.5);
			});
		});
		model = { run: r, lanes: lanes, conns: conns, differs: differs, extent: extent };
	}

	/* ---- drawing ------------------------------------------------------------------------ */

	function unitWidth() {
		var w = document.getElementById("sd-scroll").clientWidth || 1000;
		return Math.max(w / model.extent, 0.0001) * state.zoom;
	}

	function visibleLanes() {
		return model.lanes.filter(function (l) {
			return !state.hiddenActors[l.backend + "/" + l.actor];
		});
	}

	function drawLabels(lanes) {
		var box = document.getElementById("sd-labels");
		box.textContent = "";
		box.appendChild(el("div", { "class": "axis" }, state.axis === "time" ?
			"time (ms)" : state.axis === "seq" ? "call order" : "step"));
		lanes.forEach(function (l) {
			var cls = (l.steps ? "steps" : "") + (l.first ? " backend-first" : "");
			var multi = model.run.backends.length > 1;
			box.appendChild(el("div", { "class": cls, title: l.backend + " " + l.actor },
				(multi ? l.backend + " · " : "") + (l.steps ? "steps" : l.actor)));
		});
	}

	function markClasses(b, ev) {
		var cls = "mark " + (ev.c === "note" ? "note" : category(ev.c));
		if (ev.c !== "note" && ev.r < 0) cls += " err";
		if (b.failedSteps[ev.st]) cls += " failed";
		if (model.differs[ev.st]) cls += " differs";
		if (ev.conn !== undefined && state.hiddenConns[ev.conn]) cls += " hidden";
		return cls;
	}

	function draw() {
		var lanes = visibleLanes(), u = unitWidth();
		var scroll = document.getElementById("sd-scroll");
		var width = Math.max(model.extent * u, scroll.clientWidth);
		var height = AXIS_H + lanes.length * LANE_H;
		var lo = scroll.scrollLeft / u - 1, hi = (scroll.scrollLeft + scroll.clientWidth) / u + 1;
		drawLabels(lanes);
		var svg = sel("svg", { width: width, height: height, id: "sd-svg" });
		/* the axis: a tick per step (or a round number of units) */
		var stepU = Math.pow(10, Math.ceil(Math.log10(Math.max(60 / u, 1e-9))));
		if (state.axis === "step" || state.axis === "seq") stepU = Math.max(1, stepU);
		for (var t = Math.max(0, Math.floor(lo / stepU) * stepU); t <= hi; t += stepU) {
			svg.appendChild(sel("line", { x1: t * u, x2: t * u, y1: 0, y2: height, "class": "grid" }));
			var tx = sel("text", { x: t * u + 2, y: 13 });
			tx.textContent = String(+t.toFixed(6));
			svg.appendChild(tx);
		}
		var laneY = {};
		lanes.forEach(function (l, li) {
			var y = AXIS_H + li * LANE_H;
			laneY[l.bi + "/" + l.actor] = y;
			var g = sel("g", { "class": "lane" + (l.steps ? " steps" : ""), "data-actor": l.actor,
				"data-backend": l.backend });
			g.appendChild(sel("rect", { x: 0, y: y, width: width, height: LANE_H,
				"class": "lane-bg" + (li % 2 ? " odd" : "") }));
			if (l.first && li)
				g.appendChild(sel("line", { x1: 0, x2: width, y1: y, y2: y, "class": "lane-sep" }));
			var b = model.run.backends[l.bi];
			if (l.steps) drawSteps(g, b, y, u, lo, hi);
			else drawMarks(g, b, l, y, u, lo, hi);
			svg.appendChild(g);
		});
		drawConns(svg, laneY, u, lo, hi);
		var old = document.getElementById("sd-svg");
		if (old) old.parentNode.replaceChild(svg, old);
		else scroll.appendChild(svg);
	}

	function drawSteps(g, b, y, u, lo, hi) {
		b.outcomes.forEach(function (o, k) {
			if (state.axis !== "step" || k + 1 < lo || k > hi) return;
			var cls = "mark step" + (o.ok ? " ok" : "") + (b.failedSteps[k] ? " failed" : "") +
				(model.differs[k] ? " differs" : "");
			var r = sel("rect", { x: k * u + 1, y: y + 4, width: Math.max(u - 2, 1),
				height: LANE_H - 8, rx: 3, "class": cls, "data-step": k,
				"data-backend": b.name });
			var t = sel("title", {});
			t.textContent = "line " + o.l + (o.i >= 0 ? " iteration " + o.i : "") + ": " + o.c +
				"  →  " + o.g;
			r.appendChild(t);
			r.addEventListener("click", function () { showStep(b, k); });
			g.appendChild(r);
			if (u > 60) {
				var tx = sel("text", { x: k * u + 4, y: y + 17 });
				tx.textContent = o.c.slice(0, Math.floor(u / 6));
				g.appendChild(tx);
			}
		});
	}

	function drawMarks(g, b, l, y, u, lo, hi) {
		l.marks.forEach(function (ev) {
			var x1 = Math.min(ev.x, ev.x2), x2 = Math.max(ev.x, ev.x2);
			if (x2 < lo || x1 > hi) return;
			var cls = markClasses(b, ev), m;
			if (x2 * u - x1 * u > 2) {
				var sp = sel("line", { x1: x1 * u, x2: x2 * u, y1: y + LANE_H / 2,
					y2: y + LANE_H / 2, "class": "span " + category(ev.c),
					stroke: "#8e24aa" });
				g.appendChild(sp);
			}
			var cx = x2 * u, cy = y + LANE_H / 2;
			if (ev.c === "note")
				m = sel("path", { d: "M" + cx + "," + (cy - 8) + "l7,13h-14z" });
			else
				m = sel("rect", { x: cx - 4, y: cy - 8, width: 8, height: 16, rx: 2 });
			m.setAttribute("class", cls);
			m.setAttribute("data-step", ev.st);
			m.setAttribute("data-call", ev.c);
			m.setAttribute("data-i", ev.i);
			m.setAttribute("data-backend", b.name);
			if (ev.conn !== undefined) m.setAttribute("data-conn", ev.conn);
			var t = sel("title", {});
			t.textContent = ev.t + (ev.c === "note" ? "" : " = " + ev.rs) +
				(ev.d ? "\n" + text(ev.d).slice(0, 80) : "");
			m.appendChild(t);
			m.addEventListener("click", function () { showEvent(b, ev); });
			g.appendChild(m);
		});
	}

	function drawConns(svg, laneY, u, lo, hi) {
		model.conns.forEach(function (c) {
			if (c.from < 0 || c.to < 0 || state.hiddenConns[c.id]) return;
			var b = model.run.backends[c.backend], a = b.events[c.from], z = b.events[c.to];
			var ya = laneY[c.backend + "/" + a.lane], yz = laneY[c.backend + "/" + z.lane];
			if (ya === undefined || yz === undefined) return;
			var xa = Math.max(a.x, a.x2), xz = Math.max(z.x, z.x2);
			if (Math.max(xa, xz) < lo || Math.min(xa, xz) > hi) return;
			svg.appendChild(sel("path", { "class": "conn", "data-conn": c.id,
				d: "M" + xa * u + "," + (ya + LANE_H / 2) + "L" + xz * u + "," +
					(yz + LANE_H / 2) }));
		});
	}

	/* ---- details ------------------------------------------------------------------------ */

	function bytes(hex) {
		var out = [];
		for (var i = 0; i + 1 < hex.length; i += 2) out.push(parseInt(hex.substr(i, 2), 16));
		return out;
	}
	function text(hex) {
		return bytes(hex).map(function (c) {
			return c >= 32 && c < 127 ? String.fromCharCode(c) : ".";
		}).join("");
	}
	function hexdump(hex) {
		var b = bytes(hex), lines = [];
		for (var i = 0; i < b.length; i += 16) {
			var row = b.slice(i, i + 16), h = row.map(function (c) {
				return (c < 16 ? "0" : "") + c.toString(16);
			}).join(" ");
			lines.push(("0000" + i.toString(16)).slice(-4) + "  " + h +
				new Array(49 - h.length).join(" ") + "  " + text(hex.substr(i * 2, 32)));
		}
		return lines.join("\n");
	}

	function showEvent(b, ev) {
		var d = document.getElementById("sd-detail");
		d.textContent = "";
		var o = b.outcomes[ev.st];
		d.appendChild(el("div", {}, b.name + " · " + ev.lane + " · " + ev.t +
			(ev.c === "note" ? "" : " = " + ev.rs)));
		var when = b.virtual ? "virtual" : "monotonic";
		d.appendChild(el("div", { "class": "muted" }, "start " + ev.s / 1e9 + " s, end " +
			ev.e / 1e9 + " s (" + when + ")" + (ev.conn !== undefined ? ", connection " +
			connName(model.conns[ev.conn]) : "") + (o ? ", step: line " + o.l + ": " + o.c +
			" → " + o.g : "")));
		if (ev.d) {
			d.appendChild(el("div", { "class": "muted" }, (ev.d.length / 2) + " bytes"));
			d.appendChild(el("pre", { id: "sd-bytes" }, hexdump(ev.d)));
		}
		selectMark(ev.i, b.name);
	}

	function showStep(b, k) {
		var d = document.getElementById("sd-detail"), o = b.outcomes[k];
		d.textContent = "";
		d.appendChild(el("div", {}, b.name + " · step " + k + " · line " + o.l +
			(o.i >= 0 ? " iteration " + o.i : "") + ": " + o.c));
		d.appendChild(el("div", { "class": "muted" }, "got " + o.g + (o.ok ? "" :
			" (expectation failed)")));
		model.run.backends.forEach(function (x) {
			if (x !== b && x.outcomes[k])
				d.appendChild(el("div", { "class": "muted" }, x.name + ": " + x.outcomes[k].g));
		});
	}

	function selectMark(i, backend) {
		var old = document.querySelectorAll(".mark.selected");
		for (var j = 0; j < old.length; j++) old[j].classList.remove("selected");
		var m = document.querySelector('.mark[data-i="' + i + '"][data-backend="' + backend + '"]');
		if (m) m.classList.add("selected");
	}

	function connName(c) {
		return "#" + c.id + " port " + c.port + (model.run.backends.length > 1 ?
			" (" + model.run.backends[c.backend].name + ")" : "");
	}

	/* ---- the page: header, controls, lanes, steps --------------------------------------- */

	function header() {
		var r = data.runs[state.run], h = document.getElementById("sd-head");
		h.textContent = "";
		var title = el("h1", {}, (data.title || "sockdrill") + ": " + (r.file || ""));
		var st = failedRun(r) ? "failed" : "passed";
		title.appendChild(el("span", { "class": "status " + st, id: "sd-status" }, st));
		h.appendChild(title);
		var bad = r.backends.filter(function (b) { return b.status === "failed"; })[0];
		var repro = data.command || (bad || r.backends[0] || {}).reproduce || "";
		h.appendChild(el("code", { id: "sd-repro", title: "the command that reproduces it" },
			repro));
		var msgs = r.backends.filter(function (b) { return b.message; }).map(function (b) {
			return b.name + ": " + b.message;
		});
		if (data.finding) msgs.push(data.finding);
		if (msgs.length) h.appendChild(el("div", { id: "sd-message" }, msgs.join("\n")));
	}

	function controls() {
		var c = document.getElementById("sd-controls"), r = data.runs[state.run];
		c.textContent = "";
		if (data.runs.length > 1) {
			var s = el("select", { id: "sd-run" });
			data.runs.forEach(function (x, i) {
				var o = el("option", { value: i }, (failedRun(x) ? "✗ " : "✓ ") + x.file);
				if (i === state.run) o.selected = true;
				s.appendChild(o);
			});
			s.addEventListener("change", function () { pick(+s.value); });
			c.appendChild(s);
		}
		var ax = el("select", { id: "sd-axis", title: "the horizontal axis" });
		[["step", "by step"], ["seq", "by call"], ["time", "by time"]].forEach(function (a) {
			var o = el("option", { value: a[0] }, a[1]);
			if (a[0] === state.axis) o.selected = true;
			ax.appendChild(o);
		});
		ax.addEventListener("change", function () { state.axis = ax.value; state.zoom = 1; render(); });
		c.appendChild(ax);
		var z = el("span", {});
		[["−", 0.5], ["+", 2], ["fit", 0]].forEach(function (b) {
			var btn = el("button", { "class": "zoom", type: "button" }, b[0]);
			btn.addEventListener("click", function () { zoom(b[1]); });
			z.appendChild(btn);
		});
		c.appendChild(z);
		var fa = el("fieldset", { id: "sd-actors" });
		fa.appendChild(el("legend", {}, "actors"));
		model.lanes.forEach(function (l) {
			var key = l.backend + "/" + l.actor, lab = el("label", {});
			var cb = el("input", { type: "checkbox", value: key });
			cb.checked = !state.hiddenActors[key];
			cb.addEventListener("change", function () {
				if (cb.checked) delete state.hiddenActors[key]; else state.hiddenActors[key] = 1;
				draw();
			});
			lab.appendChild(cb);
			lab.appendChild(document.createTextNode(r.backends.length > 1 ? key : l.actor));
			fa.appendChild(lab);
		});
		c.appendChild(fa);
		if (model.conns.length) {
			var fc = el("fieldset", { id: "sd-conns" });
			fc.appendChild(el("legend", {}, "connections"));
			model.conns.slice(0, 200).forEach(function (cn) {
				var lab = el("label", {}), cb = el("input", { type: "checkbox", value: cn.id });
				cb.checked = !state.hiddenConns[cn.id];
				cb.addEventListener("change", function () {
					if (cb.checked) delete state.hiddenConns[cn.id]; else state.hiddenConns[cn.id] = 1;
					draw();
				});
				lab.appendChild(cb);
				lab.appendChild(document.createTextNode(connName(cn)));
				fc.appendChild(lab);
			});
			c.appendChild(fc);
		}
		var lg = el("span", { "class": "legend muted" });
		[["#1e88e5", "connection"], ["#43a047", "data"], ["#90a4ae", "close"], ["#8e24aa", "wait"],
		 ["#fb8c00", "fault/note"], ["#e53935", "failed step"], ["#ffe0b2", "sim≠real"]].forEach(
			function (x) {
				lg.appendChild(el("span", { style: "background:" + x[0] }));
				lg.appendChild(document.createTextNode(x[1]));
			});
		c.appendChild(lg);
	}

	function stepsTable() {
		var t = document.getElementById("sd-steps"), r = data.runs[state.run];
		t.textContent = "";
		var n = 0;
		r.backends.forEach(function (b) { n = Math.max(n, b.outcomes.length); });
		if (!n) return;
		var hr = el("tr", {});
		hr.appendChild(el("th", {}, "#"));
		hr.appendChild(el("th", {}, "line"));
		hr.appendChild(el("th", {}, "step"));
		r.backends.forEach(function (b) { hr.appendChild(el("th", {}, b.name)); });
		t.appendChild(hr);
		for (var k = 0; k < Math.min(n, 2000); k++) {
			var o = null, failed = false;
			r.backends.forEach(function (b) {
				o = o || b.outcomes[k];
				if (b.failedSteps[k]) failed = true;
			});
			var tr = el("tr", { "class": "step" + (failed ? " failed" : "") +
				(model.differs[k] ? " differs" : ""), "data-step": k });
			tr.appendChild(el("td", {}, String(k)));
			tr.appendChild(el("td", {}, o.l + (o.i >= 0 ? "." + o.i : "")));
			tr.appendChild(el("td", {}, o.c));
			r.backends.forEach(function (b) {
				var x = b.outcomes[k];
				tr.appendChild(el("td", {}, x ? x.g + (x.ok ? "" : "  ✗") : ""));
			});
			(function (k) {
				tr.addEventListener("click", function () { showStep(r.backends[0], k); goTo(k); });
			})(k);
			t.appendChild(tr);
		}
	}

	function goTo(x) {
		if (state.axis !== "step") return;
		var s = document.getElementById("sd-scroll");
		s.scrollLeft = Math.max(0, x * unitWidth() - s.clientWidth / 2);
		draw();
	}

	function zoom(f) {
		var s = document.getElementById("sd-scroll");
		var mid = (s.scrollLeft + s.clientWidth / 2) / unitWidth();
		state.zoom = f ? Math.min(Math.max(state.zoom * f, 1), 1e6) : 1;
		draw();
		s.scrollLeft = Math.max(0, mid * unitWidth() - s.clientWidth / 2);
		draw();
	}

	function render() {
		build();
		header();
		controls();
		draw();
		stepsTable();
		/* a long run opens on a window of 150 steps or calls (the rest a scroll or "fit"
		 * away), at its failing step if it has one */
		var b = model.run.backends.filter(function (x) { return x.failed_at >= 0; })[0];
		if (model.extent > 200 && state.zoom === 1) {
			state.zoom = model.extent / 150;
			draw();
			if (b) goTo(b.failed_at);
		}
	}

	function pick(i) {
		state.run = i;
		state.hiddenActors = {};
		state.hiddenConns = {};
		state.zoom = 1;
		render();
	}

	function init() {
		document.body.appendChild(el("header", { id: "sd-head" }));
		document.body.appendChild(el("div", { id: "sd-controls" }));
		var main = el("div", { id: "sd-main" });
		main.appendChild(el("div", { id: "sd-labels" }));
		main.appendChild(el("div", { id: "sd-scroll" }));
		document.body.appendChild(main);
		document.body.appendChild(el("div", { id: "sd-detail", "class": "muted" },
			"Click a mark for its call, its result and its bytes; wheel with Ctrl to zoom."));
		document.body.appendChild(el("table", { id: "sd-steps" }));
		if (!data.runs.length) {
			document.getElementById("sd-head").textContent = "sockdrill: no runs";
			return;
		}
		var scroll = document.getElementById("sd-scroll"), pending = false;
		scroll.addEventListener("scroll", function () {
			if (pending) return;
			pending = true;
			requestAnimationFrame(function () { pending = false; draw(); });
		});
		scroll.addEventListener("wheel", function (e) {
			if (!e.ctrlKey) return;
			e.preventDefault();
			zoom(e.deltaY < 0 ? 1.5 : 1 / 1.5);
		}, { passive: false });
		var first = 0;
		data.runs.some(function (r, i) { if (failedRun(r)) { first = i; return true; } return false; });
		state.run = first;
		state.axis = data.runs[first].backends.some(function (b) { return b.outcomes.length; }) ?
			"step" : "seq";
		render();
	}
	init();
})();
