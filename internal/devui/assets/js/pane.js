// The right pane: a log (one deployable's, a button's, or all of them), the
// applied YAML and last diff, and the cycle history with phase timings.
import { el, getJSON, millis } from './api.js';

const maxLines = 5000;
const fileLine = /((?:[\w.@+-]+\/)*[\w.@+-]+\.[A-Za-z]\w*):(\d+)(?::(\d+))?/g;

export class Pane {
  constructor(root, { onError }) {
    this.root = root;
    this.onError = onError;
    this.target = ''; // '' is every log
    this.tab = 'log';
    this.log = root.querySelector('#log');
    this.search = '';
    this.follow = root.querySelector('#follow');
    this.lastSeq = 0;
    this.pending = [];
    this.frame = 0;
    root.querySelector('#log-search').addEventListener('input', (e) => {
      this.search = e.target.value.toLowerCase();
      for (const line of this.log.children) line.hidden = !this.matches(line.textContent);
    });
    for (const b of root.querySelectorAll('.tab')) b.onclick = () => this.show(b.dataset.tab);
  }

  async open(target) {
    this.target = target;
    this.root.dataset.target = target;
    this.root.querySelector('#pane-title').textContent = target || 'all logs';
    this.log.replaceChildren();
    this.pending = [];
    try {
      const q = new URLSearchParams({ target });
      const lines = await getJSON(`/api/v1/logs?${q}`);
      if (this.target !== target) return;
      this.log.replaceChildren();
      this.lastSeq = 0;
      this.append(lines);
    } catch (e) { this.onError(e); }
    if (this.tab !== 'log') this.show(this.tab);
  }

  // onLog takes a live log line.
  onLog(l) {
    if (l.seq <= this.lastSeq) return;
    if (this.target && l.target !== this.target) return;
    this.pending.push(l);
    if (!this.frame) this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const p = this.pending;
      this.pending = [];
      this.append(p);
    });
  }

  append(lines) {
    if (!lines.length) return;
    const frag = document.createDocumentFragment();
    for (const l of lines.slice(-maxLines)) {
      if (l.seq <= this.lastSeq) continue;
      this.lastSeq = l.seq;
      frag.append(this.line(l));
    }
    this.log.append(frag);
    while (this.log.childElementCount > maxLines) this.log.firstElementChild.remove();
    if (this.follow.checked) this.log.scrollTop = this.log.scrollHeight;
  }

  line(l) {
    const d = el('div', { class: `line ${l.source}`, 'data-seq': l.seq });
    d.append(el('span', { class: 't', textContent: l.time.slice(11, 19) + ' ' }));
    if (!this.target && l.target) d.append(el('span', { class: 'who', textContent: `${l.target} ` }));
    if (l.source === 'build') {
      let last = 0;
      for (const m of l.text.matchAll(fileLine)) {
        d.append(l.text.slice(last, m.index), el('span', { class: 'fileline', textContent: m[0] }));
        last = m.index + m[0].length;
      }
      d.append(l.text.slice(last));
    } else {
      d.append(l.text);
    }
    d.hidden = !this.matches(d.textContent);
    return d;
  }

  matches(text) {
    return !this.search || text.toLowerCase().includes(this.search);
  }

  async show(tab) {
    this.tab = tab;
    for (const b of this.root.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === tab);
    for (const v of ['log', 'yaml', 'history']) this.root.querySelector(`#view-${v}`).hidden = v !== tab;
    if (tab === 'log') return;
    const view = this.root.querySelector(`#view-${tab}`);
    if (!this.target || this.target.startsWith('button:')) {
      view.replaceChildren(el('p', { class: 'object', textContent: 'Select a deployable.' }));
      return;
    }
    try {
      const d = await getJSON(`/api/v1/deployable?${new URLSearchParams({ target: this.target })}`);
      view.replaceChildren(...(tab === 'yaml' ? yamlView(d) : historyView(d)));
    } catch (e) { this.onError(e); }
  }

  // refresh redraws the YAML or history view when the shown deployable changed.
  refresh(target) {
    if (target === this.target && this.tab !== 'log') this.show(this.tab);
  }
}

function yamlView(d) {
  if (!d.objects.length) return [el('p', { class: 'object', textContent: 'Nothing applied since the loop started.' })];
  return d.objects.map((o) => {
    const ref = `${o.kind}/${o.namespace ? o.namespace + '/' : ''}${o.name}`;
    const diff = el('pre', { class: 'diff' });
    for (const line of o.diff.split('\n')) {
      diff.append(el('span', { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '', textContent: line + '\n' }));
    }
    return el('div', { class: 'object', 'data-ref': ref },
      el('h3', { textContent: `${ref} (${o.action})` }),
      el('pre', { class: 'yaml', textContent: o.yaml }),
      el('details', {}, el('summary', { textContent: 'diff of the last apply' }), diff));
  });
}

function historyView(d) {
  const deps = el('div', { class: 'deps' }, el('strong', { textContent: 'In its last cycle because of: ' }), (d.affectedBy || []).join(', ') || '—');
  const table = el('table', { class: 'history' },
    el('tr', {}, ...['cycle', 'outcome', 'state', 'total', 'index', 'build', 'push', 'apply', 'ready', 'files'].map((h) => el('th', { textContent: h }))));
  for (const c of [...d.cycles].reverse()) {
    const p = c.phaseMillis || {};
    table.append(el('tr', { 'data-n': c.n }, ...[`#${c.n}`, c.outcome, (c.states || {})[d.target] || '', millis(c.totalMillis),
      millis(p.index), millis(p.build), millis(p.push), millis(p.apply), millis(p.ready), (c.files || []).join(' ')].map((v) => el('td', { textContent: v }))));
  }
  return [deps, table];
}
