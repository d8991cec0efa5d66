// The demo site's own script: the companion (the <script async> include in the page head,
// with data-capture-forms and data-track-pages) captures both forms into the chat lead, and
// the pages seen; this script only tells
// the visitor how it went. It talks to the companion through the include's queue, so it
// never waits for the companion to load, and the page never waits for either.
(() => {
  const reekolect = window.reekolect = window.reekolect || [];

  let status = null; // the status line of the form sent last
  let leftOut = [];

  function show(text, kind) {
    if (!status) return;
    status.textContent = text;
    status.className = `form-status ${kind}`;
  }

  /** Calls `then` with the companion once the include has loaded it. */
  function whenLoaded(then) {
    if (reekolect.loaded) then(reekolect.companion);
    else setTimeout(whenLoaded, 50, then);
  }

  reekolect.push(
    ['on', 'invalid', ({ error }) => leftOut.push(...(error.errors ?? []).map((e) => `${e.field}: ${e.rule}`))],
    ['on', 'sent', ({ update }) => {
      if (!update.name && !update.email && !update.notes) return; // page context only, not a form
      show(leftOut.length ? `Sent, but left out ${leftOut.join('; ')}` : 'Thanks! We have your details and will answer in the chat.', leftOut.length ? 'error' : 'ok');
      leftOut = [];
    }],
    ['on', 'failed', ({ error }) => show(error.message, 'error')],
  );

  for (const form of document.querySelectorAll('#contact-form, #quote-form')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault(); // a demo: stay on the page (the capture happened before this handler)
      status = form.querySelector('.form-status');
      show('Sending…', 'pending');
      whenLoaded((rk) => {
        try {
          rk.context();
        } catch {
          show('Saved. Open the chat bubble (bottom right) and we get your details.', 'pending');
        }
      });
    });
  }
})();
