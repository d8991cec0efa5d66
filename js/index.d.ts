/** Options of `init()`. */
export interface CompanionConfig {
  /** Base URL of your Reekolect proxy: absolute, or a path on your site such as "/reekolect". */
  proxyUrl: string;
  /** The sessionStorage key holding the visitor UUID; found automatically when unset. */
  uuidKey?: string;
  /** The bot's id, when the page has no widget tag. Give it with `customerId`. */
  botId?: string;
  /** The customer account's id, when the page has no widget tag. Give it with `botId`. */
  customerId?: string;
  /** A bot page URL (https://page.Reekolect.online/BotId/CustomerId) to read the ids from. */
  botPageUrl?: string;
  /** Calls made within this many milliseconds are merged into one request. Default 250, at most 10000. */
  batchWindowMs?: number;
  /** First retry after about this many milliseconds, doubling each time (with jitter). Default 1000. */
  retryBaseMs?: number;
  /** Retries are at most this far apart, unless the server's Retry-After asks for more. Default 300000. */
  retryMaxMs?: number;
  /** A send with no answer after this many milliseconds is retried. Default 15000. */
  requestTimeoutMs?: number;
  /** Capture every form of the page on submit, as `captureForms()` does. */
  captureForms?: boolean;
  /** Capture and send nothing until `setConsent(true)`. */
  requireConsent?: boolean;
  /** A signed visitor token from your backend, for a proxy run with `--visitor-secret`. */
  visitorToken?: string;
  /**
   * Your last look at each update before it is first sent: return it (changed or not), or
   * null to drop it. A hook that throws, or returns an invalid update, drops it (fail closed)
   * and emits `failed` with `code: 'hook'`. The visitor (uuid, botId, customerId) cannot be changed.
   */
  beforeSend?: (payload: WireLead) => Partial<WireLead> | null | undefined;
  /** Send the visitor's first touch (utm_*, referrer, landing page) once, as attributes. */
  attribution?: boolean;
  /**
   * Send page context as lead attributes: `first_seen`, `last_seen` (ISO-8601 UTC), `visits`
   * (a visit starts after 30 minutes without a page view), `last_page` ("/path — title") and
   * `page_trail` (the visit's last 10 paths, " › " between them). Paths only: never the query
   * string or fragment. Single-page-app navigations count (the Navigation API, or popstate and
   * a look at the address every 250 ms). Off by default. See docs/page-context.md.
   */
  trackPages?: boolean;
}

/** When forms are captured: always on submit; with `onChange`, also after edits settle. */
export interface CaptureOptions {
  /** Also capture after the visitor changes a field (debounced). */
  onChange?: boolean;
  /** Quiet time after a change before capturing, in ms. Default 1000. */
  debounceMs?: number;
}

/** The status values the Reekolect API accepts (input is case-insensitive). */
export type LeadStatus = 'OPEN' | 'INPROGRESS' | 'REVIEW' | 'ONHOLD' | 'DEPENDANCY' | 'CLOSED';

/** A note on the chat. */
export interface LeadNote {
  title: string;
  description?: string;
}

/** The fields of a lead update; every one is optional. */
export interface LeadFields {
  agentId?: string;
  status?: LeadStatus | Lowercase<LeadStatus>;
  /** Absolute http(s) URL of the lead's picture. */
  picture?: string;
  name?: string;
  email?: string;
  /** Digits, spaces, dashes; a leading "+CC" fills `dialCode`. */
  phone?: string;
  /** "+" and 1 to 4 digits, like "+44". */
  dialCode?: string;
  notes?: LeadNote[];
  tags?: string[];
  /** `{ key: value }` or the API's `[{ key, value }]`; numbers and booleans become strings. */
  attributes?: Record<string, string | number | boolean> | { key: string; value: string | number | boolean }[];
}

/** The properties of a tracked event: flat strings, numbers and booleans. */
export type EventProperties = Record<string, string | number | boolean>;

/** Who the visitor is: the fields `identify()` takes. */
export type VisitorTraits = Pick<LeadFields, 'name' | 'email' | 'phone' | 'dialCode' | 'picture'>;

/** Attribute values; numbers and booleans are sent as strings. */
export type AttributeValue = string | number | boolean;

/** Who the current visitor is. */
export interface VisitorContext {
  uuid: string;
  botId: string;
  customerId: string;
}

/** The API's answer to an accepted update. */
export interface LeadAnswer {
  success: boolean;
  message: string;
  code: number;
}

/** What a failed call rejects with. */
export interface ReekolectError extends Error {
  name: 'ReekolectError';
  code: 'config' | 'invalid' | 'context' | 'rejected' | 'storage' | 'reset' | 'hook' | 'limit';
  /** For `invalid`: the first field that broke a rule, and the rule. */
  field?: string;
  rule?: string;
  errors?: { field: string; rule: string }[];
  /** For `rejected`: the HTTP status. */
  status?: number;
}

/** The update as sent, in the API's wire format. */
export interface WireLead {
  uuid: string;
  botId: string;
  customerId: string;
  agentId?: string;
  status?: LeadStatus;
  picture?: string;
  name?: string;
  email?: string;
  phone?: string;
  dialCode?: string;
  notes?: { title: string; description: string }[];
  tags?: string[];
  attributes?: { key: string; value: string }[];
}

/** What each event's handler receives. */
export interface CompanionEvents {
  /** An update was accepted. */
  sent: { update: WireLead; answer: LeadAnswer };
  /** An update could not be delivered. */
  failed: { update: WireLead; error: ReekolectError };
  /** A call broke a rule and was not queued. */
  invalid: { error: ReekolectError };
  /**
   * Something degraded without losing updates (web storage blocked or full: the outbox lives
   * in memory), or `track()` went over its limits (`code: 'limit'`, said once a page).
   */
  warning: { error: ReekolectError };
}

/**
 * A configured companion. Every update method checks its input at once (an invalid call
 * rejects with `code: 'invalid'` and emits `invalid`) and then keeps the update in a
 * persistent outbox: it waits for the visitor UUID if the chat has not been opened yet,
 * travels with the other calls of its `batchWindowMs` as one request, and is retried on
 * network errors, 408, 429 and 5xx. Its promise resolves when the request carrying it is
 * accepted, and rejects only when the proxy refuses it for good (`code: 'rejected'`) or
 * `reset()` drops it.
 */
export interface Companion {
  /** The current visitor context; throws a ReekolectError (`code: 'context'`) when incomplete. */
  context(): VisitorContext;
  /** Updates any of the lead's fields at once. */
  updateLead(fields: LeadFields): Promise<LeadAnswer>;
  /** Sets who the visitor is. */
  identify(traits: VisitorTraits): Promise<LeadAnswer>;
  /** Sets custom attributes; a key set again keeps the last value. */
  setAttributes(attributes: Record<string, AttributeValue>): Promise<LeadAnswer>;
  /** Adds tags (duplicates are dropped). */
  addTags(tags: string[]): Promise<LeadAnswer>;
  /** Adds a note to the chat. */
  addNote(note: LeadNote): Promise<LeadAnswer>;
  /** Sets the chat's status. */
  setStatus(status: LeadStatus | Lowercase<LeadStatus>): Promise<LeadAnswer>;
  /** Assigns the chat to an agent. */
  assignAgent(agentId: string): Promise<LeadAnswer>;
  /**
   * Tracks a site event: a note titled `name` (1 to 200 characters) whose description is the
   * properties as `key: value` lines, and the attribute `last_event` = `name`. The same name is
   * kept at most once per 10 minutes, and at most 20 events a visit: further calls resolve
   * without sending (`{ success: true, message }`), and the first of them on the page emits
   * `warning` (`code: 'limit'`). Invalid input rejects (`code: 'invalid'`, field `name`,
   * `properties` or `properties.<key>`).
   */
  track(name: string, properties?: EventProperties): Promise<LeadAnswer>;
  /** Sends what is waiting now (parked retries too); resolves when that pass is over. */
  flush(): Promise<void>;
  /** Forgets every update not yet sent (on logout, on a shared device); their promises reject with `code: 'reset'`. */
  reset(): void;
  /**
   * Captures every form of the page (including forms added later) into the lead: email,
   * name, phone by type/autocomplete/name/label, `data-reekolect-field` to say exactly, every
   * other field as an attribute. Passwords, payment cards, CVCs, IBANs, national ids, file and
   * hidden inputs, and anything under `data-reekolect-ignore` are never taken.
   */
  captureForms(options?: CaptureOptions): void;
  /** Captures one form, given as an element or a CSS selector. Throws if it is not a form. */
  captureForm(form: HTMLFormElement | string, options?: CaptureOptions): void;
  /** Sets (or with null clears) the signed visitor token sent with updates. */
  setVisitorToken(token: string | null): void;
  /** With `requireConsent`: `true` releases what waits, `false` forgets it. */
  setConsent(given: boolean): void;
  /** Calls `handler` on `event`. */
  on<E extends keyof CompanionEvents>(event: E, handler: (detail: CompanionEvents[E]) => void): void;
  /** Stops calling `handler` on `event`. */
  off<E extends keyof CompanionEvents>(event: E, handler: (detail: CompanionEvents[E]) => void): void;
}

/** A command for the `<script>` include's queue: `reekolect.push(['setAttributes', { plan: 'pro' }])`. */
export type CompanionCommand = {
  [M in Exclude<keyof Companion, 'context'>]: [M, ...Parameters<Companion[M]>];
}[Exclude<keyof Companion, 'context'>];

/** `window.reekolect` with the `<script>` include: a queue before load, the API after. */
export type CompanionGlobal = Partial<Companion> & {
  push(...commands: CompanionCommand[]): number;
  loaded?: boolean;
  companion?: Companion;
};

declare global {
  interface Window {
    reekolect?: CompanionGlobal;
  }
}

/** Loads the companion once and returns one configured by `config`. */
export function init(config: CompanionConfig): Promise<Companion>;
