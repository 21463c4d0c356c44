// The loop's API: JSON requests and the live event stream.

export async function getJSON(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.json().catch(() => ({}))).error || ''}`);
  return r.json();
}

export async function post(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : '' });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || `${path}: ${r.status}`);
  return j;
}

// stream calls onSnapshot with the whole state on (re)connect, then onEvent for
// each change. A dropped stream reconnects by itself (EventSource).
export function stream(onSnapshot, onEvent) {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data)));
  for (const type of ['state', 'resource', 'removed', 'cycle', 'applied', 'log', 'button']) {
    es.addEventListener(type, (e) => onEvent(type, JSON.parse(e.data)));
  }
  return es;
}

export function shortDigest(d) {
  return (d || '').replace('sha256:', '').slice(0, 12);
}

export function ago(t) {
  if (!t || t.startsWith('0001')) return '';
  const s = Math.round((Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export function millis(ms) {
  if (!ms) return '';
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}
