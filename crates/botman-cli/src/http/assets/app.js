// botman dashboard (issue #11). The page is complete without this script;
// it keeps it current: it listens to /api/events and, when a bot's events
// arrive, re-fetches /api/bots/{name} and re-renders that bot's row (and,
// on the index, its timeline lane; on its page, the new runs). It also
// sends run now / pause / resume with the daemon's token, asked once and
// kept in this tab's sessionStorage. Everything is built with DOM nodes
// and text, never HTML strings: names, errors and outputs stay text.
(() => {
  'use strict';

  const body = document.body;
  const ZONE = body.dataset.zone || 'UTC';
  const PAGE = body.dataset.page || '';
  const PAGE_BOT = body.dataset.bot;
  const LIVE_RUNS = body.dataset.liveRuns === 'true';
  const KINDS = (body.dataset.kinds || '').split(',').filter(Boolean);
  const TOKEN_KEY = 'botman.token';
  const LAST_RUNS = 20;
  // Events after which a bot's runs (its history, its lane) changed.
  const RUN_KINDS = new Set([
    'run_started', 'run_succeeded', 'run_failed', 'fire_skipped', 'fires_missed',
  ]);
  const SVG = 'http://www.w3.org/2000/svg';

  // ---- DOM ----------------------------------------------------------------

  function build(el, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }
  const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
  const s = (tag, attrs, ...kids) => build(document.createElementNS(SVG, tag), attrs, kids);
  const enc = encodeURIComponent;
  const sel = (name) => `[data-bot="${CSS.escape(name)}"]`;

  // ---- time and duration words (dashboard.rs says the same) ------------

  function parseTime(t) {
    // jiff writes nanoseconds; Date wants milliseconds at most.
    return new Date(String(t).replace(/(\.\d{3})\d+/, '$1'));
  }

  function magnitude(sec) {
    if (sec < 60) return `${Math.floor(sec)} s`;
    const min = Math.round(sec / 60);
    if (min < 60) return `${min} min`;
    if (sec < 86400) {
      const hh = Math.floor(min / 60);
      const mm = min - hh * 60;
      return mm ? `${hh} h ${mm} min` : `${hh} h`;
    }
    const d = Math.round(sec / 86400);
    return d === 1 ? '1 day' : `${d} days`;
  }

  function relative(t) {
    const sec = (parseTime(t) - Date.now()) / 1000;
    if (Math.abs(sec) < 1) return 'now';
    return sec > 0 ? `in ${magnitude(sec)}` : `${magnitude(-sec)} ago`;
  }

  const fmtOptions = {
    year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  };
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat('en-GB', { ...fmtOptions, timeZone: ZONE });
  } catch (_) {
    // A zone the browser does not know: UTC, and say so in the titles.
    fmt = new Intl.DateTimeFormat('en-GB', { ...fmtOptions, timeZone: 'UTC' });
  }
  const zoneLabel = fmt.resolvedOptions().timeZone;

  function parts(d) {
    const o = {};
    for (const p of fmt.formatToParts(d)) o[p.type] = p.value;
    return o;
  }

  function absolute(t) {
    const d = parseTime(t);
    const p = parts(d);
    const n = parts(new Date());
    if (p.year === n.year && p.month === n.month && p.day === n.day) {
      return `${p.hour}:${p.minute}:${p.second}`;
    }
    if (Math.abs(d - Date.now()) < 6 * 86400e3) return `${p.weekday} ${p.hour}:${p.minute}`;
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
  }

  function full(t) {
    const p = parts(parseTime(t));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${zoneLabel}`;
  }

  function duration(ms) {
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${ms.toFixed(0)} ms`;
    const sec = ms / 1000;
    if (sec < 10) return `${sec.toFixed(1)} s`;
    if (sec < 60) return `${sec.toFixed(0)} s`;
    const total = Math.round(sec);
    const hh = Math.floor(total / 3600);
    const mm = Math.floor((total % 3600) / 60);
    const ss = total % 60;
    if (hh === 0) return ss ? `${mm} min ${ss} s` : `${mm} min`;
    return mm ? `${hh} h ${mm} min` : `${hh} h`;
  }

  const timeRel = (t) => h('time', { class: 'rel', datetime: t, title: full(t) }, relative(t));
  const words = (name) => String(name).replace(/_/g, ' ');

  // ---- rendering, as dashboard.rs renders --------------------------------

  function stateBadges(b) {
    const out = [h('span', { class: `badge st-${b.state}` }, b.state)];
    if (b.overdue) {
      out.push(' ', h('span', {
        class: 'badge overdue',
        title: 'no run succeeded within its expected window',
      }, 'overdue'));
    }
    return out;
  }

  function outcomeBadge(outcome, reason) {
    if (!outcome) return [h('span', { class: 'badge out-running' }, 'running')];
    const out = [h('span', { class: `badge out-${outcome}` }, words(outcome))];
    if (reason) out.push(' ', h('span', { class: 'reason' }, words(reason)));
    return out;
  }

  function fill(root, selector, kids) {
    const el = root.querySelector(selector);
    if (el) el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined));
    return el;
  }

  function renderRow(tr, b) {
    tr.classList.toggle('overdue', !!b.overdue);
    tr.classList.remove('removed');
    fill(tr, 'td.state', stateBadges(b));

    const last = [
      b.last_outcome ? outcomeBadge(b.last_outcome) : null,
      b.last_duration_ms === null || b.last_duration_ms === undefined
        ? null : h('span', { class: 'dur' }, duration(b.last_duration_ms)),
      b.last_run ? timeRel(b.last_run) : null,
    ].filter(Boolean).flatMap((part, i) => (i ? [' ', part] : [part]));
    if (!last.length) last.push(h('span', { class: 'muted' }, 'never'));
    fill(tr, 'td.last', last);

    let next;
    if (b.next_run && !b.paused) {
      next = [timeRel(b.next_run), ' ', h('span', { class: 'abs' }, absolute(b.next_run))];
    } else {
      next = [h('span', { class: 'muted' }, b.next_run ? 'paused' : 'none')];
    }
    if (b.timeout_until) {
      next.push(h('div', { class: 'cool-down' }, `cool-down until ${absolute(b.timeout_until)}`));
    }
    fill(tr, 'td.next', next);

    const runs = fill(tr, 'td.runs', [
      String(b.runs),
      b.errors > 0 ? [' ', h('span', { class: 'errors' }, `${b.errors} failed`)] : [],
    ]);
    if (runs) runs.dataset.runs = String(b.runs);

    const pause = tr.querySelector('button.pause');
    const resume = tr.querySelector('button.resume');
    if (pause) pause.hidden = !!b.paused;
    if (resume) resume.hidden = !b.paused;

    const lane = document.querySelector(`.tl-lane${sel(b.name)}`);
    if (lane) lane.classList.toggle('paused', !!b.paused);
  }

  // A bot's page: its badges in the title and the facts that change.
  function renderFacts(b) {
    for (const el of document.querySelectorAll(`.state-badges${sel(b.name)}`)) {
      el.replaceChildren(...stateBadges(b));
    }
    if (PAGE !== 'bot' || b.name !== PAGE_BOT) return;
    const at = (t) => (t ? [absolute(t), ' ', timeRel(t)] : null);
    const ms = (v) => v !== null && v !== undefined;
    const facts = {
      runs: `${b.runs} started, ${b.successes} succeeded, ${b.errors} failed, ${b.retries} retries`,
      'not-run': `${b.skipped} skipped, ${b.missed} missed`,
      failing: b.consecutive_failures > 0 ? `${b.consecutive_failures} in a row` : null,
      duration: ms(b.duration_p50_ms) && ms(b.duration_p99_ms)
        ? `median ${duration(b.duration_p50_ms)}, p99 ${duration(b.duration_p99_ms)}` : null,
      'last-success': at(b.last_success),
      'cool-down': at(b.timeout_until),
    };
    for (const [key, value] of Object.entries(facts)) {
      const dd = document.querySelector(`dd[data-fact="${key}"]`);
      if (!dd) continue;
      dd.parentElement.hidden = value === null;
      if (value !== null) fill(dd.parentElement, 'dd', [value]);
    }
  }

  function details(run) {
    const partsShown = [['error', run.error], ['stdout', run.stdout_tail], ['stderr', run.stderr_tail]]
      .filter(([, v]) => v);
    if (!partsShown.length) return [h('span', { class: 'muted' }, '\u2014')];
    return [h('details', null,
      h('summary', null, partsShown.map(([k]) => k).join(' \u00b7 ')),
      partsShown.map(([k, v]) => [h('div', { class: 'tail-label' }, k), h('pre', { class: k }, v)]))];
  }

  function runRow(run) {
    const outcome = run.outcome || 'running';
    const dash = '\u2014';
    let late = dash;
    if (run.lateness_ms !== null && run.lateness_ms !== undefined) {
      late = (run.lateness_ms < 0 ? '\u2212' : '+') + duration(Math.abs(run.lateness_ms));
    }
    const td = (label, attrs, ...kids) => h('td', { 'data-label': label, ...attrs }, ...kids);
    return h('tr', {
      class: 'run', id: `run-${run.id}`, 'data-run-id': run.id, 'data-outcome': outcome,
    },
    td('Run', null, h('a', { href: `/api/runs/${run.id}` }, `#${run.id}`)),
    td('Started', null, h('span', { class: 'abs' }, absolute(run.started_at)), ' ', timeRel(run.started_at)),
    td('Outcome', null, outcomeBadge(run.outcome, run.reason)),
    // A fire not run (skipped, missed) took no time: no duration.
    td('Duration', { class: 'num' },
      run.duration_ms === null || run.duration_ms === undefined || run.reason
        ? dash : duration(run.duration_ms)),
    td('Late', { class: 'num' }, late),
    td('Attempts', { class: 'num' }, String(run.attempts)),
    td('Trigger', null, words(run.trigger)),
    td('Node', null, run.node || ''),
    td('Exit', { class: 'num' }, run.exit_code === null || run.exit_code === undefined ? '' : String(run.exit_code)),
    td('Output', { class: 'output' }, details(run)));
  }

  function runMillis(run) {
    return run.duration_ms === null || run.duration_ms === undefined ? null : Math.max(0, run.duration_ms);
  }

  function renderLane(lane, runs) {
    const tl = lane.closest('.tl');
    let max = Number(tl && tl.dataset.maxMs) || 1;
    for (const r of runs) max = Math.max(max, runMillis(r) || 0);
    const svg = lane.querySelector('svg.tl-past');
    if (!svg) return;
    const shown = runs.slice(0, LAST_RUNS).reverse();
    const bars = shown.map((r, i) => {
      const slot = LAST_RUNS - shown.length + i;
      const ms = runMillis(r) || 0;
      const height = 2 + 16 * Math.log(1 + ms) / Math.log(1 + max);
      const outcome = r.outcome || 'running';
      const dur = r.duration_ms === null || r.duration_ms === undefined ? '' : `, ${duration(r.duration_ms)}`;
      return s('rect', {
        class: `bar out-${outcome}`, x: slot * 10 + 1, y: (20 - height).toFixed(1),
        width: 8, height: height.toFixed(1),
      }, s('title', null, `#${r.id} ${outcome}${dur} \u00b7 ${absolute(r.started_at)}`));
    });
    svg.replaceChildren(...bars);
  }

  // ---- fetching ------------------------------------------------------------

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    return { status: r.status, ok: r.ok, body };
  }

  // The newest answer wins: a slow older fetch does not overwrite it.
  const generation = new Map();

  async function refreshRow(name) {
    const rows = document.querySelectorAll(`tr.bot${sel(name)}`);
    if (!rows.length) return;
    const gen = (generation.get(name) || 0) + 1;
    generation.set(name, gen);
    let r;
    try { r = await getJson(`/api/bots/${enc(name)}`); } catch (_) { return; }
    if (generation.get(name) !== gen) return;
    if (r.status === 404) {
      for (const tr of rows) {
        tr.classList.add('removed');
        fill(tr, 'td.state', [h('span', { class: 'badge st-removed' }, 'removed')]);
      }
      return;
    }
    if (r.ok && r.body) {
      for (const tr of rows) renderRow(tr, r.body);
      renderFacts(r.body);
    }
  }

  async function refreshLane(name) {
    const lane = document.querySelector(`.tl-lane${sel(name)}`);
    if (!lane) return;
    try {
      const r = await getJson(`/api/bots/${enc(name)}/runs?limit=${LAST_RUNS}`);
      if (r.ok && r.body) renderLane(lane, r.body.runs);
    } catch (_) { /* the next event tries again */ }
  }

  async function refreshRuns() {
    const tbody = document.querySelector('#runs tbody');
    if (!tbody || !PAGE_BOT) return;
    const r = await getJson(`/api/bots/${enc(PAGE_BOT)}/runs?limit=20`);
    if (!r.ok || !r.body) return;
    // Oldest first, so that each new one goes on top.
    for (const run of r.body.runs.slice().reverse()) {
      const old = tbody.querySelector(`tr.run[data-run-id="${run.id}"]`);
      if (old && old.dataset.outcome === (run.outcome || 'running')) continue;
      let shown = run;
      if (run.outcome) {
        // The list leaves the output tails out; the run has them.
        const one = await getJson(`/api/runs/${run.id}`);
        if (one.ok && one.body) shown = one.body;
      }
      const row = runRow(shown);
      if (old) {
        old.replaceWith(row);
      } else {
        // Newest first: before the first older one.
        const older = [...tbody.querySelectorAll('tr.run')]
          .find((tr) => Number(tr.dataset.runId) < run.id);
        tbody.insertBefore(row, older || null);
      }
    }
    const none = document.getElementById('no-runs');
    if (none && tbody.querySelector('tr.run')) none.remove();
  }

  // One runs refresh at a time (two would add the same run twice).
  let runsChain = Promise.resolve();
  const queueRuns = () => {
    runsChain = runsChain.then(refreshRuns).catch(() => {});
  };

  // Events come in bursts (started, succeeded, fire scheduled): one fetch
  // per bot and purpose within a short window.
  const pending = new Map();
  function soon(key, fn, ms) {
    if (pending.has(key)) return;
    pending.set(key, setTimeout(() => { pending.delete(key); fn(); }, ms));
  }

  function refreshAll() {
    for (const tr of document.querySelectorAll('tr.bot')) soon(`row:${tr.dataset.bot}`, () => refreshRow(tr.dataset.bot), 50);
    for (const lane of document.querySelectorAll('.tl-lane')) soon(`lane:${lane.dataset.bot}`, () => refreshLane(lane.dataset.bot), 50);
    if (PAGE === 'bot' && LIVE_RUNS) soon('runs', queueRuns, 50);
  }

  // ---- the event stream ------------------------------------------------

  const live = document.getElementById('live');
  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
    live.title = 'live updates from /api/events';
  }

  function onEvent(ev) {
    let e;
    try { e = JSON.parse(ev.data); } catch (_) { return; }
    const name = e.bot_name;
    const kind = ev.type;
    if (kind === 'bot_added' || kind === 'bot_removed') {
      const changed = document.getElementById('changed');
      if (changed) changed.hidden = false;
    }
    if (!name) return;
    soon(`row:${name}`, () => refreshRow(name), 100);
    if (RUN_KINDS.has(kind)) {
      if (PAGE === 'index') soon(`lane:${name}`, () => refreshLane(name), 250);
      if (PAGE === 'bot' && LIVE_RUNS && name === PAGE_BOT) soon('runs', queueRuns, 100);
    }
  }

  function connect() {
    if (!window.EventSource) {
      setLive('static', 'static (no EventSource)');
      return;
    }
    const es = new EventSource('/api/events');
    let dropped = false;
    setLive('connecting', 'connecting\u2026');
    es.onopen = () => {
      setLive('live', 'live');
      // Reconnected: what happened meanwhile is not coming as events.
      if (dropped) refreshAll();
      dropped = false;
    };
    es.onerror = () => {
      dropped = true;
      // EventSource retries by itself, unless the server said no.
      if (es.readyState === EventSource.CLOSED) {
        setLive('offline', 'offline');
        setTimeout(connect, 5000);
      } else {
        setLive('offline', 'reconnecting\u2026');
      }
    };
    for (const kind of KINDS) es.addEventListener(kind, onEvent);
    es.addEventListener('lagged', refreshAll);
  }

  // ---- actions -------------------------------------------------------------

  const flashEl = document.getElementById('flash');
  let flashTimer;
  function flash(text, kind) {
    if (!flashEl) return;
    flashEl.className = kind;
    flashEl.textContent = text;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashEl.textContent = ''; flashEl.className = ''; }, 10000);
  }

  function token() {
    let t = sessionStorage.getItem(TOKEN_KEY);
    if (t) return t;
    t = window.prompt('The token of this botman daemon ([botman.http] token).\nIt is kept in this browser tab only.', '');
    if (t === null || !t.trim()) return null;
    t = t.trim();
    sessionStorage.setItem(TOKEN_KEY, t);
    return t;
  }

  async function act(button) {
    const name = button.dataset.bot;
    const action = button.classList.contains('run-now') ? 'run'
      : button.classList.contains('pause') ? 'pause' : 'resume';
    const t = token();
    if (!t) {
      flash('Nothing done: no token given.', 'warn');
      return;
    }
    button.disabled = true;
    try {
      const r = await fetch(`/api/bots/${enc(name)}/${action}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${t}`, Accept: 'application/json' },
      });
      let answer = {};
      try { answer = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        flash(`The token was refused (${r.status}: ${answer.error || 'unauthorized'}). It has been forgotten; the next action asks for it again.`, 'error');
      } else if (!r.ok) {
        flash(`${words(action)} ${name}: ${answer.error || `HTTP ${r.status}`}`, 'error');
      } else if (action === 'run') {
        flash(answer.run_id ? `Run #${answer.run_id} of ${name} started.` : `A run of ${name} is ${answer.status || 'queued'}.`, 'ok');
      } else {
        flash(`${name} ${answer.paused ? 'paused' : 'resumed'}.`, 'ok');
      }
    } catch (err) {
      flash(`${words(action)} ${name}: the request failed (${err}).`, 'error');
    } finally {
      button.disabled = false;
      refreshRow(name);
    }
  }

  document.addEventListener('click', (ev) => {
    const button = ev.target.closest('td.actions button[data-bot]');
    if (button && !button.disabled) act(button);
  });

  // ---- start ---------------------------------------------------------------

  for (const b of document.querySelectorAll('td.actions button')) {
    b.disabled = false;
    b.removeAttribute('title');
  }
  setInterval(() => {
    for (const t of document.querySelectorAll('time.rel')) {
      t.textContent = relative(t.getAttribute('datetime'));
    }
  }, 5000);
  connect();
})();
