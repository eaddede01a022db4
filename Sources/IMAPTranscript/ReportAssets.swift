/// The report's inline style, page skeleton and script. The script reads the JSON block
/// (`#report-data`) and draws everything from it, writing strings only as text nodes.
enum ReportAssets {
    static let css = """
        :root{--ok:#2e8540;--no:#d98c00;--bad:#c62828;--none:#8a8a8a;--idle:#dbe9fb;--ink:#1d2330;--dim:#667085;
        --line:#e3e6eb;--bg:#f7f8fa}
        *{box-sizing:border-box}
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);margin:0;
        background:var(--bg)}
        header{background:#1d2330;color:#fff;padding:14px 24px}
        header h1{font-size:19px;margin:0 0 2px}
        header p{margin:0;color:#c9d1e0}
        main{padding:8px 24px 40px;max-width:1400px}
        section{background:#fff;border:1px solid var(--line);border-radius:6px;margin:14px 0;padding:10px 14px}
        h2{font-size:16px;margin:2px 0 8px}
        h3{font-size:14px;margin:10px 0 4px}
        table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
        th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
        th{font-weight:600;color:var(--dim);font-size:12px;user-select:none}
        th.sort{cursor:pointer}
        th.sort:after{content:" \\2195";color:#b0b6c0}
        td.n,th.n{text-align:right}
        tr.sel td{background:#eef4ff}
        tr[data-kind=session]{cursor:pointer}
        tr[data-kind=session]:hover td{background:#f3f6fb}
        .pill{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#eceff3}
        .pill.tls{background:#dff3e4;color:#1e6b33}
        .pill.plain{background:#fdecea;color:#9b1c1c}
        .pill.err{background:#fdecea;color:#9b1c1c}
        .pill.warn{background:#fff4dc;color:#8a5a00}
        .bar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:4px 0 8px;color:var(--dim);font-size:12px}
        button{font:inherit;font-size:12px;padding:2px 8px;border:1px solid #c8ced8;border-radius:4px;background:#fff;
        cursor:pointer}
        button:disabled{opacity:.4;cursor:default}
        input[type=search]{font:inherit;padding:3px 8px;border:1px solid #c8ced8;border-radius:4px;width:280px}
        .legend span{display:inline-flex;align-items:center;gap:4px;margin-right:10px}
        .sw{width:12px;height:10px;border-radius:2px;display:inline-block}
        svg.tl{width:100%;height:auto;display:block;margin:2px 0 12px;border:1px solid var(--line);border-radius:4px}
        svg .c-OK{fill:var(--ok)}svg .c-NO{fill:var(--no)}svg .c-BAD{fill:var(--bad)}svg .c-{fill:var(--none)}
        svg rect[data-kind=command]{cursor:pointer}
        svg rect[data-kind=command]:hover{stroke:#000;stroke-width:1}
        svg .idle{fill:var(--idle)}
        svg .quiet{fill:url(#hatch)}
        svg .gap{stroke:var(--bad);stroke-width:2}
        svg .push{fill:#6f42c1}
        svg text{font-size:10px;fill:var(--dim)}
        svg .axis{stroke:#d0d5dd}
        #transcript .rows{font:12px/1.5 ui-monospace,"DejaVu Sans Mono",monospace;border:1px solid var(--line);
        border-radius:4px;overflow-x:auto}
        .row{white-space:pre;padding:0 8px 0 24px;border-left:3px solid transparent;position:relative}
        .row.k-c{color:#0b5cad}.row.k-o{color:#1e6b33}.row.k-n{color:#8a5a00;background:#fffaf0}
        .row.k-b{color:#9b1c1c;background:#fff5f5}.row.k-l{color:#8a5a00;background:#fffbea}
        .row.k-e{color:#9b1c1c;background:#fff0f0}.row.k-h{font-weight:600;background:#f2f4f7}.row.k-m{color:#6f42c1}
        .row.hit{border-left-color:#f5b400;background:#fff7d6}
        .row.target{border-left-color:#0b5cad;background:#e7f0ff}
        .tog{position:absolute;left:6px;cursor:pointer;color:var(--dim)}
        svg text.label{fill:#fff;font-size:9px;pointer-events:none}
        .more{color:#0b5cad;cursor:pointer;font-style:italic}
        .hidden-count{color:var(--dim);font-style:italic}
        a{color:#0b5cad}
        .kv{display:grid;grid-template-columns:max-content 1fr;gap:0 12px;font-size:13px}
        .kv b{color:var(--dim);font-weight:500}
        .cap-add{color:#1e6b33}.cap-del{color:#9b1c1c}
        .muted{color:var(--dim)}
        """

    static let skeleton = """
        <main>
        <section id="sessions"><h2>Sessions</h2><div class="bar" id="session-pager"></div>
        <table><thead><tr id="session-head"></tr></thead><tbody id="session-rows"></tbody></table></section>
        <section id="timeline"><h2>Timeline</h2><div class="bar legend">
        <span><i class="sw" style="background:var(--ok)"></i>OK</span>
        <span><i class="sw" style="background:var(--no)"></i>NO</span>
        <span><i class="sw" style="background:var(--bad)"></i>BAD</span>
        <span><i class="sw" style="background:var(--none)"></i>no completion</span>
        <span><i class="sw" style="background:var(--idle)"></i>IDLE</span>
        <span><i class="sw" style="background:#6f42c1"></i>unsolicited EXISTS/EXPUNGE</span>
        <span><i class="sw" style="background:repeating-linear-gradient(45deg,#ccc 0 2px,#fff 2px 4px)"></i>
        no traffic</span>
        <span><i class="sw" style="background:var(--bad);width:3px"></i>capture gap</span>
        </div><div id="timeline-body"></div></section>
        <section id="latency"><h2>Latency by command</h2>
        <table><thead><tr><th>command</th><th class="n">count</th><th class="n">completed</th><th class="n">NO</th>
        <th class="n">BAD</th><th class="n">p50 ms</th><th class="n">p95 ms</th><th class="n">max ms</th></tr></thead>
        <tbody id="latency-rows"></tbody></table></section>
        <section id="state"><h2>Capabilities and mailbox</h2><div id="state-body"></div></section>
        <section id="lints"><h2>Lints</h2><div class="bar" id="lint-pager"></div>
        <table><thead><tr><th>session</th><th>level</th><th>code</th><th>message</th><th>line</th></tr></thead>
        <tbody id="lint-rows"></tbody></table></section>
        <section id="transcript"><h2>Transcript</h2><div class="bar">
        <input type="search" id="search" placeholder="search the transcript">
        <span id="search-count"></span>
        <button id="collapse-all">collapse all</button><button id="expand-all">expand all</button>
        <span id="row-pager"></span></div><div class="rows" id="rows"></div></section>
        </main>
        """

    static let script = """
        "use strict";
        const T0 = performance.now();
        const D = JSON.parse(document.getElementById("report-data").textContent);
        const S = D.sessions, R = D.rows;
        const PAGE = {sessions: 100, lints: 200, rows: 400, bars: 1000};
        const ALL_LIMIT = 2000;
        const totalCommands = S.reduce((n, s) => n + s.commands.length, 0);
        const state = {sort: null, desc: false, sessionPage: 0, lintPage: 0, rowPage: 0,
          selected: null, query: "", collapsed: new Set(), unfolded: new Set(), target: -1, barPage: {}};
        const SVGNS = "http://www.w3.org/2000/svg";
        function el(tag, attrs, text) {
          const e = document.createElement(tag);
          for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
          if (text !== undefined) e.textContent = String(text);
          return e;
        }
        function sv(tag, attrs, text) {
          const e = document.createElementNS(SVGNS, tag);
          for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
          if (text !== undefined) e.textContent = String(text);
          return e;
        }
        function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
        function secs(us) { return (us / 1e6).toFixed(3) + " s"; }
        function bytes(n) {
          if (n < 1024) return n + " B";
          if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
          return (n / 1048576).toFixed(1) + " MiB";
        }
        function pager(box, page, count, size, go) {
          clear(box);
          const pages = Math.max(1, Math.ceil(count / size));
          if (pages < 2) return;
          const prev = el("button", {}, "\\u2039 previous"), next = el("button", {}, "next \\u203a");
          prev.disabled = page === 0; next.disabled = page >= pages - 1;
          prev.onclick = () => go(page - 1); next.onclick = () => go(page + 1);
          box.append(prev, el("span", {}, "page " + (page + 1) + " of " + pages), next);
        }
        function overview() {
          const errs = S.reduce((n, s) => n + s.errors, 0);
          document.getElementById("overview").textContent = S.length + " session(s), " + totalCommands +
            " command(s), " + errs + " error(s), " + D.lints.length + " lint(s) from " + D.inputs.join(", ") +
            (D.droppedRows ? "; the transcript stops after " + R.length + " lines (" + D.droppedRows +
              " more not kept)" : "");
        }
        const columns = [
          ["session", s => s.id, false], ["client", s => s.client, false], ["server", s => s.server, false],
          ["start", s => s.start, false], ["duration", s => s.dur, true], ["commands", s => s.commands.length, true],
          ["client bytes", s => s.up, true], ["server bytes", s => s.down, true], ["TLS", s => s.transport, false],
          ["errors", s => s.errors, true], ["lints", s => s.lints, true]];
        function sessionOrder() {
          const order = S.map((s, i) => i);
          if (state.sort !== null) {
            const f = columns[state.sort][1];
            order.sort((a, b) => { const x = f(S[a]), y = f(S[b]); return x < y ? -1 : x > y ? 1 : a - b; });
            if (state.desc) order.reverse();
          }
          return order;
        }
        function renderSessions() {
          const head = clear(document.getElementById("session-head"));
          columns.forEach((c, i) => {
            const th = el("th", {class: "sort" + (c[2] ? " n" : ""), title: "sort"}, c[0]);
            th.onclick = () => { state.desc = state.sort === i ? !state.desc : c[2]; state.sort = i;
              state.sessionPage = 0; renderSessions(); };
            head.append(th);
          });
          const body = clear(document.getElementById("session-rows"));
          const order = sessionOrder(), from = state.sessionPage * PAGE.sessions;
          for (const i of order.slice(from, from + PAGE.sessions)) {
            const s = S[i];
            const tr = el("tr", {"data-kind": "session", "data-session": s.id});
            if (state.selected === i) tr.className = "sel";
            const tls = s.transport === "plaintext" ? "plain" : "tls";
            const cells = [s.id, s.client, s.server, s.start, secs(s.dur), s.commands.length, bytes(s.up),
              bytes(s.down)];
            cells.forEach((v, k) => tr.append(el("td", columns[k][2] ? {class: "n"} : {}, v)));
            const t = el("td"); t.append(el("span", {class: "pill " + tls}, s.transport)); tr.append(t);
            const e = el("td", {class: "n"}); e.append(el("span", s.errors ? {class: "pill err"} : {}, s.errors));
            const l = el("td", {class: "n"}); l.append(el("span", s.lints ? {class: "pill warn"} : {}, s.lints));
            tr.append(e, l);
            tr.onclick = () => select(state.selected === i ? null : i);
            body.append(tr);
          }
          pager(document.getElementById("session-pager"), state.sessionPage, S.length, PAGE.sessions,
            p => { state.sessionPage = p; renderSessions(); });
        }
        function shownSessions() {
          if (state.selected !== null) return [state.selected];
          if (S.length <= 50 && totalCommands <= ALL_LIMIT) return S.map((s, i) => i);
          return S.length ? [sessionOrder()[0]] : [];
        }
        function select(i) {
          state.selected = i; state.rowPage = 0;
          renderSessions(); renderTimeline(); renderState(); renderRows();
        }
        function drawTimeline(i) {
          const s = S[i], W = 1000, L = 96, Rm = 12, top = 26, lane = 14;
          const n = s.commands.length, page = state.barPage[i] || 0;
          const cmds = s.commands.slice(page * PAGE.bars, (page + 1) * PAGE.bars);
          const lanes = Math.max(1, s.lanes), H = top + lanes * lane + 26;
          const byTime = s.dur > 0;
          const rowCount = Math.max(1, (i + 1 < S.length ? S[i + 1].firstRow : R.length) - s.firstRow);
          const pos = (t, row) => byTime ? t : row - s.firstRow;
          let lo = 0, hi = byTime ? s.dur : rowCount;
          if (n > PAGE.bars && cmds.length) {
            lo = pos(cmds[0][3], cmds[0][7]);
            hi = Math.max(...cmds.map(c => c[4] >= 0 ? pos(c[4], c[8]) : pos(c[3], c[7])), lo + 1);
          }
          const pts = [lo, hi];
          if (byTime) {
            for (const c of cmds) { pts.push(c[3]); if (c[4] >= 0) pts.push(c[4]); }
            for (const m of s.marks) pts.push(m[1], m[2]);
          }
          const ax = axis(pts, lo, hi, L, W - Rm);
          const x = ax.x;
          const svg = sv("svg", {class: "tl", viewBox: "0 0 " + W + " " + H, "data-session": s.id});
          const defs = sv("defs"), pat = sv("pattern", {id: "hatch", width: 6, height: 6,
            patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"});
          pat.append(sv("rect", {width: 6, height: 6, fill: "#fff"}),
            sv("rect", {width: 2, height: 6, fill: "#d5d9e0"}));
          defs.append(pat); svg.append(defs);
          svg.append(sv("text", {x: 4, y: 14, style: "font-weight:600;fill:#1d2330"}, s.id),
            sv("text", {x: 4, y: top + 11}, "commands"));
          const under = sv("g");
          svg.append(under);
          for (const m of s.marks) {
            const a = x(pos(m[1], m[3])), b = x(pos(m[2], m[3]));
            let shape;
            if (m[0] === "idle" || m[0] === "quiet") {
              shape = sv("rect", {class: m[0], x: a, y: top - 4, width: Math.max(b - a, 1), height: lanes * lane + 6,
                "data-kind": m[0]});
            } else if (m[0] === "gap") {
              shape = sv("line", {class: "gap", x1: a, x2: a, y1: top - 8, y2: top + lanes * lane, "data-kind": "gap"});
            } else {
              shape = sv("path", {class: "push", d: "M" + a + " " + (top - 2) + "l-4 -7h8z", "data-kind": m[0]});
            }
            shape.append(sv("title", {}, m[4]));
            shape.onclick = () => jump(m[3]);
            svg.append(shape);
          }
          for (const c of cmds) {
            const a = x(pos(c[3], c[7]));
            const end = c[4] >= 0 ? pos(c[4], c[8]) : (byTime ? s.dur : rowCount);
            const w = Math.max(x(end) - a, 3);
            const r = sv("rect", {"data-kind": "command", "data-tag": c[1], class: "c-" + c[5], x: a,
              y: top + c[6] * lane, width: w, height: lane - 3, rx: 2});
            const lat = c[9] === null ? "no completion" : c[9].toFixed(2) + " ms";
            r.append(sv("title", {}, c[1] + " " + c[2] + " \\u2014 " + (c[5] || "none") + ", " + lat));
            r.onclick = () => jump(c[7]);
            svg.append(r);
            if (w > 8 * c[2].length + 6)
              svg.append(sv("text", {class: "label", x: a + 3, y: top + c[6] * lane + 8}, c[2]));
          }
          const y = top + lanes * lane + 4;
          svg.append(sv("line", {class: "axis", x1: L, x2: W - Rm, y1: y, y2: y}));
          const fmt = v => byTime ? (v / 1e6).toFixed(hi < 1e7 ? 3 : 1) + " s" : "line " + Math.round(v + 1);
          for (const b of ax.breaks) {
            const g = sv("g", {"data-kind": "break"});
            g.append(sv("rect", {class: "quiet", x: b[0], y: top - 4, width: b[1] - b[0], height: lanes * lane + 8,
              opacity: 0.55}));
            g.append(sv("path", {class: "axis", d: "M" + (b[0] + 2) + " " + (y + 4) + "l4 -8M" + (b[1] - 6) + " " +
              (y + 4) + "l4 -8", style: "stroke:#667085"}));
            g.append(sv("title", {}, "time axis cut: " + (b[2] / 1e6).toFixed(3) + " s not drawn to scale"));
            under.append(g);
          }
          const ticks = [[lo, 0], [hi, 0]];
          for (const b of ax.breaks) ticks.push([ax.at(b[0]), 1], [ax.at(b[1]), 1]);
          for (let k = 1; k < 5; k++) ticks.push([ax.at(L + (W - Rm - L) * k / 5), 2]);
          ticks.sort((p, q) => p[1] - q[1]);
          const kept = [];
          for (const t of ticks) if (kept.every(k => Math.abs(x(k) - x(t[0])) >= 70)) kept.push(t[0]);
          for (const v of kept) {
            const px = x(v);
            svg.append(sv("line", {class: "axis", x1: px, x2: px, y1: y, y2: y + 3}));
            svg.append(sv("text", {x: px, y: y + 14, "text-anchor": px < L + 20 ? "start" : px > W - Rm - 20 ? "end" :
              "middle"}, fmt(v)));
          }
          const box = el("div");
          if (n > PAGE.bars) {
            const p = el("div", {class: "bar"});
            pager(p, page, n, PAGE.bars, q => { state.barPage[i] = q; renderTimeline(); });
            p.append(el("span", {}, "commands " + (page * PAGE.bars + 1) + "\\u2013" + (page * PAGE.bars + cmds.length)
              + " of " + n));
            box.append(p);
          }
          if (!byTime) box.append(el("div", {class: "bar"}, s.id + ": no timing in this input; " +
            "commands are placed by transcript line"));
          box.append(svg);
          return box;
        }
        // A time axis that cuts long stretches without traffic (over a tenth of the span and 50 ms) to a fixed
        // width, so that a session's commands are not a sliver beside one long IDLE. pts: the times drawn.
        function axis(pts, lo, hi, x0, x1) {
          const p = [...new Set(pts.filter(v => v >= lo && v <= hi))].sort((a, b) => a - b);
          const span = Math.max(hi - lo, 1), CUT = 48;
          const segs = [];
          for (let k = 1; k < p.length; k++) {
            const d = p[k] - p[k - 1];
            segs.push([p[k - 1], p[k], d > 50000 && d > span / 10]);
          }
          const cuts = segs.filter(g => g[2]).length;
          const linear = segs.reduce((n, g) => n + (g[2] ? 0 : g[1] - g[0]), 0);
          const room = x1 - x0 - cuts * CUT;
          const scale = linear > 0 ? room / linear : 0;
          const cutWidth = linear > 0 ? CUT : (x1 - x0) / Math.max(cuts, 1);
          const starts = [];
          let px = x0;
          for (const g of segs) { starts.push(px); px += g[2] ? cutWidth : (g[1] - g[0]) * scale; }
          const find = v => { let a = 0, b = segs.length - 1;
            while (a < b) { const m = (a + b + 1) >> 1; if (segs[m][0] <= v) a = m; else b = m - 1; } return a; };
          const x = v => {
            if (!segs.length) return x0;
            v = Math.min(Math.max(v, lo), hi);
            const k = find(v), g = segs[k], w = g[2] ? cutWidth : (g[1] - g[0]) * scale;
            return starts[k] + (g[1] > g[0] ? (v - g[0]) / (g[1] - g[0]) * w : 0);
          };
          const at = q => {
            for (let k = segs.length - 1; k >= 0; k--) if (starts[k] <= q) {
              const g = segs[k], w = g[2] ? cutWidth : (g[1] - g[0]) * scale;
              return g[0] + (w > 0 ? Math.min(1, (q - starts[k]) / w) * (g[1] - g[0]) : 0);
            }
            return lo;
          };
          const breaks = segs.map((g, k) => g[2] ? [starts[k], starts[k] + cutWidth, g[1] - g[0]] : null)
            .filter(b => b);
          return {x, at, breaks};
        }
        function renderTimeline() {
          const body = clear(document.getElementById("timeline-body"));
          const shown = shownSessions();
          if (shown.length < S.length) body.append(el("div", {class: "bar"},
            "Showing " + shown.length + " of " + S.length + " sessions: click a session above to see its timeline."));
          for (const i of shown) body.append(drawTimeline(i));
        }
        function renderLatency() {
          const body = document.getElementById("latency-rows");
          const f = v => v === null ? "\\u2013" : v.toFixed(2);
          for (const l of D.latency) {
            const tr = el("tr", {"data-kind": "latency", "data-name": l[0]});
            tr.append(el("td", {}, l[0]));
            [l[1], l[2], l[3], l[4], f(l[5]), f(l[6]), f(l[7])].forEach(v => tr.append(el("td", {class: "n"}, v)));
            body.append(tr);
          }
        }
        function link(row, text) {
          const a = el("a", {href: "#row-" + row}, text);
          return a;
        }
        function renderState() {
          const body = clear(document.getElementById("state-body"));
          const shown = shownSessions().slice(0, 20);
          for (const i of shown) {
            const s = S[i];
            body.append(el("h3", {}, "Session " + s.id + (s.reason ? " \\u2014 ended: " + s.reason : "")));
            const kv = el("div", {class: "kv"});
            for (const c of s.caps) {
              const d = el("div");
              if (c[2].length && c[3].length === 0 && c[2].length === c[4] && c === s.caps[0]) {
                d.append(el("span", {}, c[4] + " capabilities: " + c[2].join(" ")));
              } else {
                if (c[2].length) d.append(el("span", {class: "cap-add"}, "+ " + c[2].join(" ") + " "));
                if (c[3].length) d.append(el("span", {class: "cap-del"}, "\\u2212 " + c[3].join(" ")));
              }
              const t = el("b"); t.append(link(c[1], "capabilities at " + secs(c[0])));
              kv.append(t, d);
            }
            if (s.selected) kv.append(el("b", {}, "last selected"), el("div", {}, s.selected));
            if (s.mailbox.length) kv.append(el("b", {}, "mailbox at the end"),
              el("div", {}, s.mailbox.map(p => p[0] + " " + p[1]).join(", ")));
            if (!kv.firstChild) kv.append(el("b", {}, "\\u2013"), el("div", {class: "muted"}, "nothing announced"));
            body.append(kv);
          }
          if (shownSessions().length > shown.length) body.append(el("p", {class: "muted"}, "First 20 sessions shown."));
        }
        function renderLints() {
          const body = clear(document.getElementById("lint-rows"));
          const from = state.lintPage * PAGE.lints;
          for (const l of D.lints.slice(from, from + PAGE.lints)) {
            const tr = el("tr", {"data-kind": "lint"});
            const lv = el("td"); lv.append(el("span", {class: "pill " + (l[1] === "error" ? "err" : "warn")}, l[1]));
            const at = el("td"); at.append(link(l[4], "line " + (l[4] + 1)));
            tr.append(el("td", {}, S[l[0]].id), lv, el("td", {}, l[2]), el("td", {}, l[3]), at);
            body.append(tr);
          }
          if (!D.lints.length) {
            const tr = el("tr"); tr.append(el("td", {colspan: 5, class: "muted"}, "none")); body.append(tr);
          }
          pager(document.getElementById("lint-pager"), state.lintPage, D.lints.length, PAGE.lints,
            p => { state.lintPage = p; renderLints(); });
        }
        const groupSize = new Map();
        R.forEach((r, i) => { if (r[2] >= 0) groupSize.set(r[2], (groupSize.get(r[2]) || 0) + 1); });
        const commandRow = new Map();
        S.forEach(s => s.commands.forEach(c => commandRow.set(c[0], c[7])));
        function visibleRows() {
          const q = state.query.toLowerCase(), only = state.selected;
          const out = [];
          for (let i = 0; i < R.length; i++) {
            const r = R[i];
            if (only !== null && r[0] !== only) continue;
            if (q) { if (!r[3].toLowerCase().includes(q)) continue; }
            else if (r[2] >= 0 && state.collapsed.has(r[2]) && commandRow.get(r[2]) !== i) continue;
            out.push(i);
          }
          return out;
        }
        const FOLD = 320;
        function rowElement(i) {
          const r = R[i];
          const d = el("div", {class: "row k-" + r[1], id: "row-" + i, "data-row": i});
          if (i === state.target) d.classList.add("target");
          if (state.query) d.classList.add("hit");
          const isCommand = r[2] >= 0 && commandRow.get(r[2]) === i && (groupSize.get(r[2]) || 0) > 1;
          const tog = el("span", {class: "tog"}, isCommand ? (state.collapsed.has(r[2]) ? "\\u25b8" : "\\u25be") : "");
          if (isCommand) tog.onclick = () => { toggle(r[2]); renderRows(); };
          d.append(tog);
          const text = r[3];
          if (text.length > FOLD && !state.unfolded.has(i)) {
            d.append(document.createTextNode(text.slice(0, FOLD)));
            const more = el("span", {class: "more"}, " \\u2026 " + (text.length - FOLD) + " more characters");
            more.onclick = () => { state.unfolded.add(i); renderRows(); };
            d.append(more);
          } else d.append(document.createTextNode(text));
          if (isCommand && state.collapsed.has(r[2]) && !state.query)
            d.append(el("span", {class: "hidden-count"}, "  (" + (groupSize.get(r[2]) - 1) + " lines folded)"));
          return d;
        }
        function toggle(c) { if (state.collapsed.has(c)) state.collapsed.delete(c); else state.collapsed.add(c); }
        function renderRows() {
          const rows = visibleRows();
          const pages = Math.max(1, Math.ceil(rows.length / PAGE.rows));
          state.rowPage = Math.min(state.rowPage, pages - 1);
          const box = clear(document.getElementById("rows"));
          const from = state.rowPage * PAGE.rows;
          const frag = document.createDocumentFragment();
          for (const i of rows.slice(from, from + PAGE.rows)) frag.append(rowElement(i));
          box.append(frag);
          document.getElementById("search-count").textContent = state.query ? rows.length + " matching line(s)" :
            rows.length + " line(s)" + (state.selected !== null ? " of session " + S[state.selected].id : "");
          pager(document.getElementById("row-pager"), state.rowPage, rows.length, PAGE.rows,
            p => { state.rowPage = p; renderRows(); });
          return rows;
        }
        function jump(row) {
          if (row < 0 || row >= R.length) return;
          const r = R[row];
          if (state.selected !== null && state.selected !== r[0]) select(r[0]);
          if (state.query && !R[row][3].toLowerCase().includes(state.query.toLowerCase())) {
            state.query = ""; document.getElementById("search").value = "";
          }
          if (r[2] >= 0 && commandRow.get(r[2]) !== row) state.collapsed.delete(r[2]);
          state.target = row;
          const rows = visibleRows();
          state.rowPage = Math.floor(Math.max(0, rows.indexOf(row)) / PAGE.rows);
          renderRows();
          const e = document.getElementById("row-" + row);
          if (e) e.scrollIntoView({block: "center"});
        }
        let timer = null;
        document.getElementById("search").addEventListener("input", ev => {
          clearTimeout(timer);
          timer = setTimeout(() => { state.query = ev.target.value; state.rowPage = 0; renderRows(); }, 200);
        });
        document.getElementById("collapse-all").onclick = () => {
          for (const s of shownSessions()) for (const c of S[s].commands) state.collapsed.add(c[0]);
          renderRows();
        };
        document.getElementById("expand-all").onclick = () => { state.collapsed.clear(); renderRows(); };
        window.addEventListener("hashchange", () => {
          const m = /^#row-(\\d+)$/.exec(location.hash);
          if (m) jump(Number(m[1]));
        });
        overview(); renderSessions(); renderTimeline(); renderLatency(); renderState(); renderLints(); renderRows();
        document.body.setAttribute("data-rendered", "true");
        document.body.setAttribute("data-script-ms", Math.round(performance.now() - T0));
        document.body.setAttribute("data-ready-ms", Math.round(performance.now()));
        """
}
