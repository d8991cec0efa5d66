// Signup through the <script> include's global: calls work before and after it loads.
const status = document.getElementById('form-status');
function show(text, kind) {
  status.textContent = text;
  status.className = kind;
}

reekolect.push(
  ['on', 'sent', ({ update }) => update.tags?.includes('newsletter') && show('Subscribed: see you next month!', 'ok')],
  ['on', 'invalid', ({ error }) => show(error.message, 'error')],
  ['on', 'failed', ({ error }) => show(error.message, 'error')],
);

document.getElementById('newsletter-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const email = new FormData(event.target).get('email');
  reekolect.push(['identify', { email }], ['addTags', ['newsletter']]);
});
