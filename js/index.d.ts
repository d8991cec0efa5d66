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
  code: 'config' | 'invalid' | 'context' | 'network' | 'rejected';
  /** For `invalid`: the first field that broke a rule, and the rule. */
  field?: string;
  rule?: string;
  errors?: { field: string; rule: string }[];
  /** For `rejected`: the HTTP status. */
  status?: number;
}

/** A configured companion. */
export interface Companion {
  /** The current visitor context; throws a ReekolectError (`code: 'context'`) when incomplete. */
  context(): VisitorContext;
  /** Updates the current visitor's lead with `fields`. */
  updateLead(fields: LeadFields): Promise<LeadAnswer>;
}

/** Loads the companion once and returns one configured by `config`. */
export function init(config: CompanionConfig): Promise<Companion>;
