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
