// A stand-in for the Reekolect chat widget (https://cdn.Reekolect.online/Reekolect.js),
// just enough for the demo: a chat bubble that, when the visitor opens it, creates the
// visitor UUID in sessionStorage, as the real widget does.
(() => {
  const STORAGE_KEY = 'Reekolect_uuid';
  const tag = document.getElementById('Reekolect-messenger-widget');
  const [botId] = (tag?.textContent || '').split(',').map((s) => s.trim());

  const bubble = document.createElement('button');
  bubble.className = 'rk-bubble';
  bubble.type = 'button';
  bubble.setAttribute('aria-label', 'Open chat');
  bubble.textContent = '💬';

  const panel = document.createElement('div');
  panel.className = 'rk-panel';
  panel.hidden = true;
  panel.innerHTML = '<header>Fernwood plant doctor <small></small></header>' +
    '<p class="rk-msg">Hi! 👋 How can we help your plants today?</p>';

  bubble.addEventListener('click', () => {
    if (!sessionStorage.getItem(STORAGE_KEY)) sessionStorage.setItem(STORAGE_KEY, crypto.randomUUID());
    panel.hidden = !panel.hidden;
    panel.querySelector('small').textContent = `bot ${botId} · visitor ${sessionStorage.getItem(STORAGE_KEY).slice(0, 8)}…`;
  });

  document.body.append(panel, bubble);
})();
