// Live reload: the preview server pushes an event when a template, digest, topics.json or the
// subscribers file changes on disk (server-sent events; no polling).
const live = document.getElementById('live');
const events = new EventSource('/events');
events.addEventListener('change', () => window.location.reload());
events.addEventListener('error', () => {
  if (live) live.textContent = 'live reload reconnecting…';
});
events.addEventListener('open', () => {
  if (live) live.textContent = 'live reload on';
});

// The audience picker searches as you type (the form's Search button does the same without
// JavaScript). Results are built with textContent: nothing from the list is parsed as HTML.
const picker = document.getElementById('picker');
const find = document.getElementById('find');
const matches = document.getElementById('matches');
const hint = document.getElementById('match-hint');
if (picker && find && matches) {
  let timer = null;
  let asked = 0;
  const show = (result, number) => {
    if (number !== asked) return; // an answer to an older keystroke
    matches.replaceChildren();
    for (const s of result.subscribers) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `/section/${encodeURIComponent(picker.dataset.section)}?${new URLSearchParams({ subscriber: s.email, view: picker.dataset.view })}`;
      a.textContent = s.label;
      const status = document.createElement('span');
      status.className = 'hint';
      status.textContent = ` ${s.status}`;
      li.append(a, status);
      matches.append(li);
    }
    if (result.subscribers.length === 0) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = 'Nobody matches.';
      matches.append(li);
    }
    if (hint) hint.textContent = result.more ? 'More match: type more of the name or address.' : 'Every match is listed.';
  };
  find.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const number = ++asked;
      const res = await fetch(`/subscribers/search?${new URLSearchParams({ q: find.value, limit: '12' })}`);
      if (res.ok) show(await res.json(), number);
    }, 150);
  });
}
