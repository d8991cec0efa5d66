// The demo site's own script: the companion captures both forms into the chat lead, and
// the pages seen (trackPages); this script only tells the visitor how the forms went.
import { init } from '/pkg/index.js';

let status = null; // the status line of the form sent last
let leftOut = [];

function show(text, kind) {
  if (!status) return;
  status.textContent = text;
  status.className = `form-status ${kind}`;
}

const companion = init({ proxyUrl: '/', trackPages: true }).then((rk) => {
  rk.captureForms();
  rk.on('invalid', ({ error }) => leftOut.push(...(error.errors ?? []).map((e) => `${e.field}: ${e.rule}`)));
  rk.on('sent', ({ update }) => {
    if (!update.name && !update.email && !update.notes) return; // page context only, not a form
    show(leftOut.length ? `Sent, but left out ${leftOut.join('; ')}` : 'Thanks! We have your details and will answer in the chat.', leftOut.length ? 'error' : 'ok');
    leftOut = [];
  });
  rk.on('failed', ({ error }) => show(error.message, 'error'));
  return rk;
});
companion.catch((error) => console.error(error.message)); // shown in the console, not left unhandled

for (const form of document.querySelectorAll('#contact-form, #quote-form')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault(); // a demo: stay on the page (the capture happened before this handler)
    status = form.querySelector('.form-status');
    show('Sending…', 'pending');
    const rk = await companion;
    try {
      rk.context();
    } catch {
      show('Saved. Open the chat bubble (bottom right) and we get your details.', 'pending');
    }
  });
}
