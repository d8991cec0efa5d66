// A small W3C WebDriver client over fetch, and the drivers it talks to: geckodriver for
// Firefox ESR (headless) and WebKitWebDriver for WebKit (MiniBrowser under Xvfb). Every
// process it starts is stopped by its PID, within a bounded time.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { existsSync } from 'node:fs';

const WEBKIT_DIR = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1';

/** Where `geckodriver` is: $GECKODRIVER, then cargo's bin directory, then PATH. */
export function geckodriverPath() {
  if (process.env.GECKODRIVER) return process.env.GECKODRIVER;
  const cargo = `${process.env.CARGO_HOME ?? `${homedir()}/.cargo`}/bin/geckodriver`;
  return existsSync(cargo) ? cargo : 'geckodriver';
}

/** A port free on 127.0.0.1 right now (the driver binds it a moment later). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `command`; `stop()` ends it by PID: SIGTERM, then SIGKILL after 5 s. */
function startProcess(command, args, { env = process.env, stdio = ['ignore', 'ignore', 'pipe'] } = {}) {
  const child = spawn(command, args, { env, stdio });
  let stderr = '';
  child.stderr?.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => { stderr += String(error); });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, stop, exited, log: () => stderr };
}

/** Starts Xvfb on a display it picks itself (-displayfd); resolves to { display, stop }. */
export async function startXvfb() {
  const xvfb = startProcess('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const display = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in 10 s: ${xvfb.log()}`)), 10_000);
    let text = '';
    xvfb.child.stdio[3].on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) { clearTimeout(timer); resolve(`:${text.trim()}`); }
    });
    xvfb.exited.then((code) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${code}): ${xvfb.log()}`)); });
  });
  return { display, stop: xvfb.stop };
}

/** Waits until the driver at `url` answers /status as ready. */
async function waitUntilReady(url, driver) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (driver.child.exitCode !== null) throw new Error(`the driver exited: ${driver.log()}`);
    try {
      const response = await fetch(`${url}/status`);
      if (response.ok && (await response.json()).value?.ready !== false) return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the driver did not become ready in 20 s: ${driver.log()}`);
}

/** The capabilities that start each engine's browser quietly on a closed network. */
const CAPABILITIES = {
  firefox: {
    browserName: 'firefox',
    'moz:firefoxOptions': {
      binary: '/usr/bin/firefox-esr',
      args: ['-headless'],
      prefs: {
        'app.normandy.enabled': false,
        'browser.region.network.url': '',
        'datareporting.policy.dataSubmissionEnabled': false,
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        'toolkit.telemetry.reportingpolicy.firstRun': false,
      },
    },
  },
  webkit: {
    browserName: 'MiniBrowser',
    'webkitgtk:browserOptions': { binary: `${WEBKIT_DIR}/MiniBrowser`, args: ['--automation'] },
  },
};

/**
 * Starts the WebDriver server of `engine` ("firefox" or "webkit"; WebKit with its own Xvfb).
 * Resolves to a driver: `newSession()` opens a browser with a fresh profile; `stop()`.
 */
export async function startDriver(engine) {
  const port = await freePort();
  const stops = [];
  let env = { ...process.env };
  let driver;
  try {
    if (engine === 'firefox') {
      driver = startProcess(geckodriverPath(), ['--host', '127.0.0.1', '--port', String(port), '--log', 'error'], { env });
    } else if (engine === 'webkit') {
      const xvfb = await startXvfb();
      stops.push(xvfb.stop);
      env = { ...env, DISPLAY: xvfb.display, WEBKIT_DISABLE_COMPOSITING_MODE: '1' };
      driver = startProcess('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], { env });
    } else {
      throw new Error(`no WebDriver engine "${engine}"`);
    }
    stops.unshift(driver.stop);
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(url, driver);
    return {
      url,
      newSession: () => Session.create(url, CAPABILITIES[engine]),
      stop: async () => { for (const stop of stops) await stop(); },
    };
  } catch (error) {
    for (const stop of stops) await stop();
    throw error;
  }
}

/** The W3C "web element" key. */
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** One browser session (its own profile: storage, cookies), over the W3C protocol. */
export class Session {
  constructor(url, id) {
    this.base = `${url}/session/${id}`;
    this.url = url;
    this.id = id;
  }

  static async create(url, capabilities) {
    const response = await fetch(`${url}/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capabilities: { alwaysMatch: capabilities } }),
      signal: AbortSignal.timeout(60_000),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`new session: ${answer.value?.error}: ${answer.value?.message}`);
    const session = new Session(url, answer.value.sessionId);
    await session.command('POST', '/timeouts', { script: 30_000, pageLoad: 30_000, implicit: 0 });
    return session;
  }

  /** Sends one command; resolves to its `value`, or throws the driver's error. */
  async command(method, path, body) {
    const response = await fetch(this.base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(`WebDriver ${method} ${path}: ${answer.value?.error}: ${answer.value?.message}`);
    }
    return answer.value;
  }

  navigate(url) { return this.command('POST', '/url', { url }); }

  /**
   * Runs `fn(arg)` in the page (it may be async) and resolves to its JSON result. A throw
   * or rejection in the page rejects here, with its message.
   */
  async evaluate(fn, arg) {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn})(arguments[0]))
        .then((value) => done({ value: value === undefined ? null : value }),
              (error) => done({ error: String(error && error.stack || error) }));`;
    const result = await this.command('POST', '/execute/async', { script, args: [arg ?? null] });
    if (result && 'error' in result) throw new Error(`in the page: ${result.error}`);
    return result?.value;
  }

  async find(selector) {
    const found = await this.command('POST', '/element', { using: 'css selector', value: selector });
    return found[ELEMENT];
  }

  async click(selector) {
    await this.command('POST', `/element/${await this.find(selector)}/click`, {});
  }

  async fill(selector, text) {
    const element = await this.find(selector);
    await this.command('POST', `/element/${element}/clear`, {});
    await this.command('POST', `/element/${element}/value`, { text });
  }

  windows() { return this.command('GET', '/window/handles'); }

  currentWindow() { return this.command('GET', '/window'); }

  switchTo(handle) { return this.command('POST', '/window', { handle }); }

  /** Opens a new tab; resolves to its handle. */
  async newWindow() {
    return (await this.command('POST', '/window/new', { type: 'tab' })).handle;
  }

  closeWindow() { return this.command('DELETE', '/window'); }

  /** Ends the session (closes the browser); bounded, and never throws. */
  async quit() {
    await fetch(this.base, { method: 'DELETE', signal: AbortSignal.timeout(20_000) }).catch(() => {});
  }
}
