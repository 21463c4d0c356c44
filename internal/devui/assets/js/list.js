// The resource list: one row per deployable, grouped by package folder, updated
// row by row (only rows whose deployable changed are redrawn, once per frame).
import { el, shortDigest, ago, millis, post } from './api.js';

export class ResourceList {
  constructor(tbody, { onSelect, onError }) {
    this.tbody = tbody;
    this.onSelect = onSelect;
    this.onError = onError;
    this.resources = new Map(); // target -> resource
    this.rows = new Map(); // target -> tr
    this.groups = new Map(); // group -> tr
    this.dirty = new Set();
    this.filter = '';
    this.selected = '';
    this.frame = 0;
  }

  reset(resources) {
    this.resources = new Map(resources.map((r) => [r.target, r]));
    this.tbody.replaceChildren();
    this.rows.clear();
    this.groups.clear();
    const frag = document.createDocumentFragment();
    let group = null;
    for (const r of [...this.resources.values()].sort(byGroup)) {
      if (r.group !== group) {
        group = r.group;
        frag.append(this.groupRow(group));
      }
      frag.append(this.row(r));
    }
    this.tbody.append(frag);
    this.applyFilter();
  }

  update(r) {
    this.resources.set(r.target, r);
    this.dirty.add(r.target);
    this.schedule();
  }

  remove(target) {
    this.resources.delete(target);
    this.rows.get(target)?.remove();
    this.rows.delete(target);
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    if ([...this.dirty].some((t) => this.resources.has(t) && !this.rows.has(t))) {
      this.dirty.clear();
      this.reset([...this.resources.values()]); // a new deployable: redraw in order
      return;
    }
    for (const t of this.dirty) {
      const r = this.resources.get(t);
      if (r) this.fill(this.rows.get(t), r);
    }
    this.dirty.clear();
    this.applyFilter();
  }

  groupRow(group) {
    const tr = el('tr', { class: 'group', 'data-group': group }, el('td', { colSpan: 7, textContent: group }));
    this.groups.set(group, tr);
    return tr;
  }

  row(r) {
    const tr = el('tr', { class: 'res', 'data-target': r.target });
    tr.addEventListener('click', (e) => {
      if (e.target.tagName !== 'BUTTON') this.onSelect(r.target);
    });
    this.rows.set(r.target, tr);
    this.fill(tr, r);
    return tr;
  }

  fill(tr, r) {
    const trigger = el('button', { type: 'button', class: 'trigger', textContent: '↻', title: 'rebuild and redeploy now', disabled: r.state === 'disabled' });
    trigger.onclick = () => post('/api/v1/actions', { action: 'trigger', target: r.target }).catch(this.onError);
    const off = r.state === 'disabled';
    const toggle = el('button', { type: 'button', class: 'toggle', textContent: off ? 'enable' : 'disable' });
    toggle.onclick = () => post('/api/v1/actions', { action: off ? 'enable' : 'disable', target: r.target }).catch(this.onError);
    const counts = [];
    if (r.errors) counts.push(el('span', { class: 'err', textContent: `✘${r.errors} ` }));
    if (r.warnings) counts.push(el('span', { class: 'warn', textContent: `⚠${r.warnings}` }));
    const links = (r.forwards || []).map((f) => {
      const url = f.split(' -> ')[0];
      return el('a', { href: url, target: '_blank', class: 'forward', textContent: url.replace('http://127.0.0.1', ''), title: f });
    });
    tr.replaceChildren(
      el('td', { class: 'target', textContent: r.target, title: r.message || '' }, ' ', ...links),
      el('td', {}, el('span', { class: `state s-${r.state}`, textContent: r.state })),
      el('td', { class: 'digest', textContent: shortDigest(r.digest) + (r.liveBinaries ? ' + live' : ''), title: r.liveBinaries ? `live update on top of ${r.digest}: ${Object.entries(r.liveBinaries).map(([b, s]) => `${b} ${s.slice(0, 12)}`).join(', ')}` : (r.digest || '') }),
      el('td', { class: 'when', textContent: r.lastCycle ? `#${r.lastCycle} ${ago(r.lastCycleTime)}` : '' }),
      el('td', { textContent: millis(r.lastCycleMillis) }),
      el('td', {}, ...counts),
      el('td', {}, trigger, ' ', toggle),
    );
    tr.classList.toggle('selected', r.target === this.selected);
  }

  select(target) {
    this.rows.get(this.selected)?.classList.remove('selected');
    this.selected = target;
    this.rows.get(target)?.classList.add('selected');
  }

  setFilter(f) {
    this.filter = f.toLowerCase();
    this.applyFilter();
  }

  applyFilter() {
    const shown = new Set();
    for (const [t, tr] of this.rows) {
      const r = this.resources.get(t);
      const hit = !this.filter || t.toLowerCase().includes(this.filter) || r.state.includes(this.filter);
      tr.hidden = !hit;
      if (hit) shown.add(r.group);
    }
    for (const [g, tr] of this.groups) tr.hidden = !shown.has(g);
  }

  counts() {
    let errors = 0, warnings = 0, failed = 0;
    for (const r of this.resources.values()) {
      errors += r.errors; warnings += r.warnings;
      if (r.state === 'failed') failed++;
    }
    return { n: this.resources.size, errors, warnings, failed };
  }
}

function byGroup(a, b) {
  return a.group < b.group ? -1 : a.group > b.group ? 1 : a.target < b.target ? -1 : a.target > b.target ? 1 : 0;
}
