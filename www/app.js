// The demo site's own script: sends the contact form to the chat lead via the companion.
import { init } from '/pkg/index.js';

const form = document.getElementById('contact-form');
const status = document.getElementById('form-status');
const companion = init({ proxyUrl: '/' });
companion.catch((error) => show(error.message, 'error')); // shown now, not left unhandled

function show(text, kind) {
  status.textContent = text;
  status.className = kind;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const fields = {
    name: data.get('name'),
    email: data.get('email'),
    tags: ['contact-form'],
    attributes: { interest: data.get('interest'), page: location.pathname },
  };
  if (data.get('phone')) fields.phone = data.get('phone');
  if (data.get('message')) fields.notes = [{ title: 'Contact form question', description: data.get('message') }];
  show('Sending…', 'pending');
  try {
    const rk = await companion;
    const sent = rk.updateLead(fields);
    try {
      rk.context();
    } catch {
      // No visitor yet: the companion keeps the details and sends them once the chat opens.
      show('Saved. Open the chat bubble (bottom right) and the plant doctor gets your details.', 'pending');
    }
    await sent;
    show('Thanks! The plant doctor has your details and will answer in the chat.', 'ok');
    form.reset();
  } catch (error) {
    show(error.message, 'error');
  }
});
