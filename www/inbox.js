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

/** The page context keys the companion's `trackPages` and `track()` set: shown in their own columns. */
const CONTEXT_KEYS = ['first_seen', 'last_seen', 'visits', 'last_page', 'page_trail', 'last_event'];

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** "3 visits", then when the visitor was first and last seen. */
function visitsText(context) {
  if (!context.visits) return '';
  const visits = `${context.visits} visit${context.visits === '1' ? '' : 's'}`;
  return `${visits}\nfirst seen ${when(context.first_seen)}\nlast seen ${when(context.last_seen)}`;
}

/** The last page, then the visit's trail. */
function pagesText(context) {
  if (!context.last_page) return '';
  return `Last: ${context.last_page}\nTrail: ${context.page_trail ?? ''}`;
}

/** Notes (events are notes: the title is the event's name, the description its properties). */
function notesText(lead, context) {
  const notes = (lead.profile?.notes ?? []).map((n) => n.description ? `${n.title}: ${n.description.replaceAll('\n', ', ')}` : n.title);
  if (context.last_event) notes.push(`Last event: ${context.last_event}`);
  return notes.join('\n');
}

function render(leads) {
  if (leads.length === 0) return;
  const rows = leads
    .slice()
    .sort((a, b) => (b.updatedAt || '').localeCompare(a.updatedAt || ''))
    .map((lead) => {
      const user = lead.profile?.userDetails ?? {};
      const phone = user.contact?.phone;
      const attributes = user.attributes ?? [];
      const context = Object.fromEntries(attributes.filter((a) => CONTEXT_KEYS.includes(a.key)).map((a) => [a.key, a.value]));
      const tr = document.createElement('tr');
      tr.dataset.uuid = lead.uuid;
      tr.append(
        cell(lead.uuid.slice(0, 8) + '…', 'mono'),
        cell(user.name),
        cell(user.contact?.email),
        cell(phone?.number ? `+${phone.prefix ?? ''} ${phone.number}` : ''),
        cell(lead.status),
        cell((user.tags ?? []).join(', ')),
        cell(visitsText(context), 'multiline'),
        cell(pagesText(context), 'multiline'),
        cell(attributes.filter((a) => !CONTEXT_KEYS.includes(a.key)).map((a) => `${a.key}=${a.value}`).join(', ')),
        cell(notesText(lead, context), 'multiline'),
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
