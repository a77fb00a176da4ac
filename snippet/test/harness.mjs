// What the browser tests stand on: the real Candor collector as a child process, a static site
// on a realistic hostname, and real headless Chromium with a normal desktop user agent.
//
// Environment: CANDOR_BIN (default <repo>/target/debug/candor), CANDOR_LIBCHDB (default
// <repo>/.cache/libchdb/26.7.3-stable.1/libchdb.so), CHROMIUM (default /usr/bin/chromium).

import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SNIPPET = join(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO = join(SNIPPET, '..')
export const DIST = join(SNIPPET, 'dist')
export const SITE = 'shop.test'
const CANDOR_BIN = process.env.CANDOR_BIN || join(REPO, 'target/debug/candor')
const LIBCHDB = process.env.CANDOR_LIBCHDB || join(REPO, '.cache/libchdb/26.7.3-stable.1/libchdb.so')
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Builds dist/ once if it is missing, so `node --test` works on a fresh checkout.
export const ensureBuilt = () => {
  if (existsSync(join(DIST, 'candor.js')) && existsSync(join(DIST, 'candor.full.js'))) return
  const r = spawnSync(process.execPath, [join(SNIPPET, 'build.mjs')], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`snippet build failed:\n${r.stdout}\n${r.stderr}`)
}

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

// Polls fn until it returns a truthy value or the time is up; returns the last value.
export const until = async (fn, { timeout = 15000, every = 200 } = {}) => {
  const end = Date.now() + timeout
  let v
  for (;;) {
    v = await fn()
    if (v || Date.now() > end) return v
    await sleep(every)
  }
}

// The real collector binary with an embedded chDB store in a temporary directory.
// Options (all optional, for other suites such as the dashboard's): `sites`, the
// comma-separated CANDOR_SITES (default SITE); `env`, extra variables for the collector
// (e.g. CANDOR_TRUSTED_PROXIES), applied last; `port`, when the test needs it beforehand.
export const startCollector = async ({ sites = SITE, env = {}, port } = {}) => {
  if (!existsSync(CANDOR_BIN)) throw new Error(`no collector binary at ${CANDOR_BIN}: build it (cargo build) or set CANDOR_BIN`)
  port ||= await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'candor-snippet-test-'))
  const token = randomBytes(20).toString('hex') // 40 characters
  const logPath = join(dataDir, 'collector.log')
  const log = openSync(logPath, 'w')
  const child = spawn(CANDOR_BIN, ['serve'], {
    env: {
      ...process.env,
      CANDOR_LISTEN: `127.0.0.1:${port}`,
      CANDOR_DATA_DIR: join(dataDir, 'data'),
      CANDOR_SITES: sites,
      CANDOR_ADMIN_TOKEN: token,
      CANDOR_LIBCHDB: LIBCHDB,
      CANDOR_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', log, log],
  })
  let exited = null
  child.on('exit', (code, signal) => (exited = { code, signal }))
  const base = `http://127.0.0.1:${port}`
  const ready = await until(
    async () => {
      if (exited) return 'exited'
      try {
        return (await fetch(`${base}/readyz`)).status === 200
      } catch {
        return false
      }
    },
    { timeout: 60000, every: 250 },
  )
  const logTail = () => readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n')
  if (ready !== true) {
    child.kill('SIGKILL')
    const tail = logTail()
    rmSync(dataDir, { recursive: true, force: true })
    throw new Error(`collector did not become ready (${JSON.stringify(exited)}):\n${tail}`)
  }

  const sql = async (query, params = {}) => {
    const res = await fetch(`${base}/api/v1/sql`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query, params }),
    })
    const body = await res.text()
    if (res.status !== 200) throw new Error(`SQL ${res.status}: ${body}`)
    const { columns, rows } = JSON.parse(body)
    return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c.name, r[i]])))
  }

  // Rows of this test's pages: every test uses its own path prefix.
  const events = (prefix) =>
    sql(
      'SELECT name, pathname, referrer_source, browser, consent, engaged_ms, props FROM events ' +
        'WHERE site = {site:String} AND startsWith(pathname, {prefix:String}) ORDER BY timestamp',
      { site: SITE, prefix },
    )

  // Waits until the rows of `prefix` satisfy `ok`; returns them either way.
  const waitEvents = (prefix, ok, timeout = 15000) =>
    until(async () => {
      const rows = await events(prefix)
      return ok(rows) ? rows : null
    }, { timeout }).then(async (r) => r || events(prefix))

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM')
      await until(() => exited, { timeout: 10000, every: 100 })
      if (!exited) child.kill('SIGKILL')
    }
    rmSync(dataDir, { recursive: true, force: true })
  }

  return { port, base, origin: `http://collector.test:${port}`, token, sql, events, waitEvents, stop, logTail }
}

// A real SMTP server (tests/smtp/sink.py on aiosmtpd, from `make smtp-sink`): every mail it
// accepts lands as parsed JSON in a temporary directory; `mails()` reads them, oldest first.
const SMTP_PYTHON = process.env.CANDOR_TEST_SMTP_PYTHON || join(REPO, '.cache/smtp-venv/bin/python')
export const startSmtp = async (args = []) => {
  if (!existsSync(SMTP_PYTHON)) throw new Error(`no SMTP test server at ${SMTP_PYTHON}: run make smtp-sink`)
  const out = mkdtempSync(join(tmpdir(), 'candor-smtp-'))
  const child = spawn(SMTP_PYTHON, [join(REPO, 'tests/smtp/sink.py'), '--out', out, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (c) => {
      buf += c
      const m = buf.match(/ready (\d+)/)
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`SMTP test server exited (${code})`)))
  })
  const mails = () =>
    readdirSync(out)
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ f, t: statSync(join(out, f)).mtimeMs }))
      .sort((a, b) => a.t - b.t)
      .map(({ f }) => JSON.parse(readFileSync(join(out, f), 'utf8')))
  const stop = async () => {
    child.kill('SIGTERM')
    rmSync(out, { recursive: true, force: true })
  }
  return { port, mails, stop }
}

// A transparent recorder in front of the collector: Chromium does not report the body of a
// sendBeacon Blob to the test, so every request the page sends to the collector passes through
// here, byte for byte with its headers, and is logged with the collector's answer.
export const startRecorder = async (collector) => {
  const port = await freePort()
  const log = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const entry = { method: req.method, path: req.url, headers: req.headers, body: body.toString('utf8'), status: null }
      log.push(entry)
      const up = http.request(
        { host: '127.0.0.1', port: collector.port, method: req.method, path: req.url, headers: req.headers },
        (ur) => {
          entry.status = ur.statusCode
          entry.drop = ur.headers['x-candor-drop']
          res.writeHead(ur.statusCode, ur.headers)
          ur.pipe(res)
        },
      )
      up.on('error', () => {
        entry.status = 502
        res.writeHead(502)
        res.end()
      })
      up.end(body)
    })
  })
  await new Promise((r) => server.listen(port, '127.0.0.1', r))
  const json = (e) => {
    try {
      return JSON.parse(e.body)
    } catch {
      return { unparsable: e.body }
    }
  }
  return {
    port,
    origin: `http://collector.test:${port}`,
    log,
    // Parsed bodies of the requests to one path (default the event endpoint).
    bodies: (path = '/api/event') => log.filter((e) => e.path === path).map(json),
    // Waits until `n` requests to `path` got an answer.
    answered: (n, path = '/api/event') =>
      until(() => log.filter((e) => e.path === path && e.status !== null).length >= n, { timeout: 10000 }),
    clear: () => log.splice(0),
    stop: () => new Promise((r) => server.close(r)),
  }
}

// A static site. `pages` maps a path (or a prefix ending in '*') to a function returning HTML;
// /js/<file> serves the built snippet from dist/; a POST to /thanks answers a form.
export const startSite = async (pages) => {
  const port = await freePort()
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    if (path === '/favicon.ico') return res.writeHead(204).end()
    if (path.startsWith('/js/') && /^[\w.]+\.js$/.test(path.slice(4)) && existsSync(join(DIST, path.slice(4)))) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' })
      return res.end(readFileSync(join(DIST, path.slice(4))))
    }
    const key = Object.keys(pages).find((k) => (k.endsWith('*') ? path.startsWith(k.slice(0, -1)) : k === path))
    if (!key) {
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      return res.end('not found')
    }
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      res.end(pages[key](path))
    })
  })
  await new Promise((r) => server.listen(port, '127.0.0.1', r))
  return {
    port,
    url: (path) => `http://${SITE}:${port}${path}`,
    stop: () => new Promise((r) => server.close(r)),
  }
}

// The tag a site owner pastes, with the test's attributes.
export const tag = (src, attrs = {}) =>
  `<script defer src="${src}" ${Object.entries(attrs)
    .map(([k, v]) => (v === true ? k : `${k}="${v}"`))
    .join(' ')}></script>`

export const html = (head, body = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>shop</title>${head}</head><body>${body}</body></html>`

// Real Chromium, headless, with loopback mapped to realistic hostnames. `chromium` is
// playwright-core's launcher; by default the one installed next to this file (snippet/),
// another suite passes its own so it needs no snippet/node_modules.
export const launch = async ({ chromium } = {}) => {
  chromium ||= (await import('playwright-core')).chromium
  const version = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).stdout || ''
  const major = (version.match(/(\d+)\.\d+\.\d+/) || [, '130'])[1]
  // What a visitor's desktop Chrome sends (not HeadlessChrome), so the bot filter lets it in.
  // Set on the command line as well as on each context: a beacon sent while a page unloads
  // leaves from the browser process, which does not know the context's override.
  const userAgent = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-blink-features=AutomationControlled',
      `--user-agent=${userAgent}`,
      // Realistic hostnames on loopback; every other name fails to resolve, so no test can
      // reach past this machine (localhost and 127.0.0.1 stay as they are).
      `--host-resolver-rules=MAP ${SITE} 127.0.0.1, MAP collector.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1`,
    ],
  })
  return { browser, newContext: (opts = {}) => browser.newContext({ userAgent, ...opts }) }
}

// Records every request of a context (URL, method, post data) and every script error and
// console message of its pages.
export const record = (context) => {
  const requests = []
  const errors = []
  const consoleMessages = []
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() || '', request: r }))
  context.on('page', (p) => {
    p.on('pageerror', (e) => errors.push(String(e)))
    p.on('console', (m) => consoleMessages.push({ type: m.type(), text: m.text(), location: m.location() }))
  })
  const to = (collectorPort) => requests.filter((r) => new URL(r.url).port === String(collectorPort))
  return { requests, errors, consoleMessages, to }
}
