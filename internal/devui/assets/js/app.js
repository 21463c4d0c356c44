// slipway dev's UI: a resource list, a pane with logs / applied YAML / history,
// the loop's cycles and custom buttons, kept live by the event stream.
import { el, millis, post, shortDigest, stream } from './api.js';
import { ResourceList } from './list.js';
import { Pane } from './pane.js';

const $ = (s) => document.querySelector(s);
const onError = (e) => { $('#loop-state').textContent = `error: ${e.message}`; };

const pane = new Pane($('#pane'), { onError });
const list = new ResourceList($('#list tbody'), {
  onError,
  onSelect: (t) => { list.select(t); pane.open(t); history.replaceState(null, '', `#${encodeURIComponent(t)}`); },
});
$('#filter').addEventListener('input', (e) => list.setFilter(e.target.value));
$('#show-all').onclick = () => { list.select(''); pane.open(''); };

function showLoop(l) {
  $('#loop-state').textContent = l.state + (l.detail ? ` ${l.detail.slice(0, 60)}` : '') + (l.ready ? '' : ' (first deploy)');
  document.body.dataset.ready = l.ready;
}

function showCounts() {
  const c = list.counts();
  $('#counts').replaceChildren(`${c.n} deployables`,
    el('span', { class: 'err', textContent: ` ✘ ${c.errors} errors` }), el('span', { class: 'warn', textContent: ` ⚠ ${c.warnings} warnings` }));
}

function cycleItem(c) {
  const p = c.phaseMillis || {};
  const phases = ['index', 'build', 'sync', 'push', 'apply', 'ready'].filter((k) => k in p).map((k) => `${k} ${millis(p[k]) || '0ms'}`).join(', ');
  const bad = !['ok', 'no-op', 'canceled'].includes(c.outcome);
  const li = el('li', { value: c.n, class: bad ? 'bad' : '', 'data-n': c.n, 'data-outcome': c.outcome },
    `#${c.n} ${c.outcome} in ${millis(c.totalMillis) || '0ms'} `, el('span', { class: 'phases', textContent: phases ? `(${phases}) ` : '' }),
    (c.affected || []).join(' '),
    ...(c.deploys || []).filter((d) => d.mode === 'live').map((d) => el('span', { class: 'live', textContent: ` live on ${shortDigest(d.digest)}`, title: d.error || `${d.target}: binaries synced in place` })));
  if (c.errors?.length) li.title = c.errors.join('\n');
  return li;
}

function addCycle(c) {
  if (c.outcome === 'no-op') return;
  const ol = $('#cycles');
  ol.prepend(cycleItem(c));
  while (ol.childElementCount > 200) ol.lastElementChild.remove();
}

const buttons = new Map();
function showButton(b) {
  let span = buttons.get(b.name);
  if (!span) {
    const btn = el('button', { type: 'button', textContent: b.name, title: `bazel run ${b.target}`, 'data-button': b.name });
    btn.onclick = () => { list.select(''); pane.open(`button:${b.name}`); post(`/api/v1/buttons/${encodeURIComponent(b.name)}`).catch(onError); };
    span = el('span', { 'data-button': b.name }, btn, el('span', { class: 'status' }));
    buttons.set(b.name, span);
    $('#buttons').append(span);
  }
  span.querySelector('.status').textContent = b.running ? 'running…' : b.exitCode === undefined ? '' : `exit ${b.exitCode}`;
  span.dataset.exit = b.running || b.exitCode === undefined ? '' : b.exitCode;
}

stream((snap) => {
  const t0 = performance.now();
  showLoop(snap.loop);
  list.reset(snap.resources);
  $('#cycles').replaceChildren();
  for (const c of snap.cycles) addCycle(c);
  for (const b of snap.buttons) showButton(b);
  showCounts();
  document.body.dataset.rendered = (performance.now() - t0).toFixed(1);
  // Milliseconds from navigation start to the first list on screen (benchmarks read it).
  if (!document.body.dataset.listAt) document.body.dataset.listAt = performance.now().toFixed(1);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (pane.target !== wanted || !document.body.dataset.opened) {
    document.body.dataset.opened = '1';
    if (wanted && !wanted.startsWith('button:')) list.select(wanted);
    pane.open(wanted);
  }
}, (type, d) => {
  switch (type) {
    case 'state': showLoop(d); break;
    case 'resource': list.update(d); showCounts(); pane.refresh(d.target); break;
    case 'removed': list.remove(d); showCounts(); break;
    case 'cycle': addCycle(d); break;
    case 'applied': pane.refresh(d.target); break;
    case 'log': pane.onLog(d); break;
    case 'button': showButton(d); break;
  }
});
