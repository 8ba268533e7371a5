// `npm run bench`: tagger quality, rendering vs per-recipient cost, then a whole pass over SMTP on 127.0.0.1.
await import('./tagger.js');
await import('./render.js');
await import('./delivery.js');
