// The demo inbox: lists the leads the proxy's embedded mock holds, refreshing as they arrive.
const BOT_ID = 'demoBot01';
const CUSTOMER_ID = 'demoCustomer01';
const REFRESH_MS = 1500;

const body = document.getElementById('leads');
const state = document.getElementById('inbox-state');
document.getElementById('bot-id').textContent = BOT_ID;
document.getElementById('customer-id').textContent = CUSTOMER_ID;
const seen = new Map(); // uuid -> updatedAt, to highlight what changed

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (className) td.className = className;
  return td;
}

function render(leads) {
  if (leads.length === 0) return;
  const rows = leads
    .slice()
    .sort((a, b) => (b.updatedAt || '').localeCompare(a.updatedAt || ''))
    .map((lead) => {
      const user = lead.profile?.userDetails ?? {};
      const phone = user.contact?.phone;
      const tr = document.createElement('tr');
      tr.dataset.uuid = lead.uuid;
      tr.append(
        cell(lead.uuid.slice(0, 8) + '…', 'mono'),
        cell(user.name),
        cell(user.contact?.email),
        cell(phone?.number ? `+${phone.prefix ?? ''} ${phone.number}` : ''),
        cell(lead.status),
        cell((user.tags ?? []).join(', ')),
        cell((user.attributes ?? []).map((a) => `${a.key}=${a.value}`).join(', ')),
        cell((lead.profile?.notes ?? []).map((n) => n.description ? `${n.title}: ${n.description}` : n.title).join(' · ')),
        cell(new Date(lead.updatedAt).toLocaleTimeString()),
      );
      if (seen.has(lead.uuid) && seen.get(lead.uuid) !== lead.updatedAt) tr.className = 'fresh';
      if (!seen.has(lead.uuid) && seen.size > 0) tr.className = 'fresh';
      seen.set(lead.uuid, lead.updatedAt);
      return tr;
    });
  body.replaceChildren(...rows);
}

async function refresh() {
  try {
    const response = await fetch(`/demo/leads?botId=${BOT_ID}&customerId=${CUSTOMER_ID}`, { cache: 'no-store' });
    if (response.status === 404) {
      state.textContent = 'the inbox demo needs the embedded mock API (proxy started with --upstream mock)';
      return; // nothing to poll: this proxy fronts a real upstream
    }
    if (!response.ok) throw new Error(`proxy answered ${response.status}`);
    const { leads } = await response.json();
    render(leads);
    state.textContent = `${leads.length} chat${leads.length === 1 ? '' : 's'} · live`;
  } catch (error) {
    state.textContent = `cannot reach the proxy (${error.message}); retrying`;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
