// The care guide's own script: client-side tabs (the address changes with pushState, as a
// single-page app's router does) and a button that tracks an event. The companion records
// the pages seen (trackPages) and the event (track) into the chat lead.
import { init } from '/pkg/index.js';

const companion = init({ proxyUrl: '/', trackPages: true });
companion.catch((error) => console.error(error.message)); // shown in the console, not left unhandled

const tabs = [...document.querySelectorAll('.tabs a')];
const status = document.getElementById('book-status');

/** Shows the tab of `path`, and names the page after it (after the URL changed, as routers do). */
function showTab(path) {
  const current = tabs.find((tab) => new URL(tab.href).pathname === path) ?? tabs[0];
  for (const tab of tabs) tab.setAttribute('aria-selected', String(tab === current));
  for (const panel of document.querySelectorAll('.tab-panel')) panel.hidden = panel.dataset.path !== new URL(current.href).pathname;
  document.title = current.dataset.title;
}

for (const tab of tabs) {
  tab.addEventListener('click', (event) => {
    event.preventDefault();
    if (tab.href === location.href) return;
    history.pushState({ tab: tab.textContent }, '', tab.href);
    showTab(location.pathname);
  });
}
addEventListener('popstate', () => showTab(location.pathname));
showTab(location.pathname);

document.getElementById('book-visit').addEventListener('click', async () => {
  status.textContent = 'Sending…';
  status.className = 'form-status pending';
  try {
    const rk = await companion;
    const topic = tabs.find((tab) => tab.getAttribute('aria-selected') === 'true').textContent.toLowerCase();
    const answer = await rk.track('care visit requested', { topic, urgent: false });
    status.textContent = answer.message?.startsWith('not sent')
      ? 'Already requested: a plant doctor will answer in the chat.'
      : 'Requested! A plant doctor will answer in the chat.';
    status.className = 'form-status ok';
  } catch (error) {
    status.textContent = error.message;
    status.className = 'form-status error';
  }
});
