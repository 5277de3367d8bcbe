// A dependency-free static file server with live reload for the "static"
// template. It serves the current directory on 0.0.0.0:5173 (PORT overrides),
// injects a small script into every HTML page, and tells open pages over
// Server-Sent Events to reload when a file changes (stylesheets are swapped
// in place). Every URL is relative, so it works behind the preview proxy on
// any host name and port.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

const root = process.cwd()
const port = Number(process.env.PORT || 5173)
const clientPath = '/__studio/live-reload.js'
const eventsPath = '/__studio/events'
const ignored = new Set(['node_modules', '.studio', '.git'])
const serverID = Date.now().toString(36)

const types = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
}

// The page reloads on "reload", restyles on "css", and reloads after a
// reconnect to a restarted server (its id changed) because it may be stale.
const client = `(() => {
  let server
  const events = new EventSource(${JSON.stringify(eventsPath)})
  events.addEventListener('hello', (e) => {
    if (server && server !== e.data) location.reload()
    server = e.data
  })
  events.addEventListener('reload', () => location.reload())
  events.addEventListener('css', () => {
    for (const link of document.querySelectorAll('link[rel="stylesheet"]')) {
      const url = new URL(link.href)
      url.searchParams.set('studio-reload', Date.now())
      link.href = url.href
    }
  })
})()
`

const listeners = new Set()

function broadcast(event) {
  for (const res of listeners) res.write(`event: ${event}\ndata: ${Date.now()}\n\n`)
}

function serveEvents(req, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  })
  res.write(`retry: 1000\nevent: hello\ndata: ${serverID}\n\n`)
  const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000)
  listeners.add(res)
  req.on('close', () => {
    clearInterval(heartbeat)
    listeners.delete(res)
  })
}

function send(res, status, type, body, head) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-cache' })
  res.end(head ? undefined : body)
}

function withLiveReload(html) {
  const tag = `<script src="${clientPath}"></script>`
  const end = html.toLowerCase().lastIndexOf('</body>')
  return end === -1 ? html + tag : html.slice(0, end) + tag + html.slice(end)
}

async function serveFile(req, res, pathname) {
  const head = req.method === 'HEAD'
  let file = path.join(root, pathname)
  if (file !== root && !file.startsWith(root + path.sep)) return send(res, 403, 'text/plain', 'Forbidden', head)

  let stat = await fs.promises.stat(file).catch(() => null)
  if (stat?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      res.writeHead(301, { Location: pathname + '/' })
      return res.end()
    }
    file = path.join(file, 'index.html')
    stat = await fs.promises.stat(file).catch(() => null)
  }
  let status = 200
  if (!stat?.isFile()) {
    status = 404
    file = path.join(root, '404.html')
    stat = await fs.promises.stat(file).catch(() => null)
    if (!stat?.isFile()) return send(res, 404, 'text/plain; charset=utf-8', 'Not found', head)
  }

  const type = types[path.extname(file).toLowerCase()] || 'application/octet-stream'
  if (type.startsWith('text/html')) {
    const html = await fs.promises.readFile(file, 'utf8')
    return send(res, status, type, withLiveReload(html), head)
  }
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': stat.size, 'Cache-Control': 'no-cache' })
  if (head) return res.end()
  fs.createReadStream(file).on('error', () => res.destroy()).pipe(res)
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' })
      return res.end()
    }
    const pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname)
    if (pathname === clientPath) return send(res, 200, types['.js'], client, req.method === 'HEAD')
    if (pathname === eventsPath) return serveEvents(req, res)
    await serveFile(req, res, pathname)
  } catch (err) {
    console.error(`${req.method} ${req.url}: ${err.message}`)
    if (!res.headersSent) send(res, 500, 'text/plain', 'Internal error')
    else res.destroy()
  }
})

// watch follows the project's files for live reload: each top-level
// folder but the ignored ones (node_modules, .studio, .git — studio's git
// writes files there this user cannot read), and the top level itself for
// new folders. A folder that cannot be watched is left out, never fatal.
function watch() {
  let pending = null
  let onlyCSS = true
  const flush = () => {
    broadcast(onlyCSS ? 'css' : 'reload')
    pending = null
    onlyCSS = true
  }
  const changed = (name) => {
    if (!name || path.extname(String(name)) !== '.css') onlyCSS = false
    clearTimeout(pending)
    pending = setTimeout(flush, 50)
  }
  const watchers = new Map()
  const follow = (entry) => {
    if (ignored.has(entry) || watchers.has(entry)) return
    let st
    try {
      st = fs.lstatSync(path.join(root, entry))
    } catch {
      return
    }
    if (!st.isDirectory()) return
    try {
      const w = fs.watch(path.join(root, entry), { recursive: true }, (_, name) => changed(name))
      w.on('error', (err) => {
        console.warn(`live reload stops following ${entry}: ${err.message}`)
        w.close()
        watchers.delete(entry)
      })
      watchers.set(entry, w)
    } catch (err) {
      console.warn(`live reload does not follow ${entry}: ${err.message}`)
    }
  }
  try {
    const top = fs.watch(root, (_, name) => {
      if (!name || ignored.has(String(name))) return
      follow(String(name))
      changed(name)
    })
    top.on('error', (err) => console.warn(`live reload is off: ${err.message}`))
    for (const entry of fs.readdirSync(root)) follow(entry)
  } catch (err) {
    console.warn(`live reload is off: ${err.message}`)
  }
}

server.listen(port, '0.0.0.0', () => {
  watch()
  console.log(`static server ready on http://0.0.0.0:${port}/ serving ${root}`)
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const res of listeners) res.end()
    server.close(() => process.exit(0))
    setTimeout(() => process.exit(0), 1000).unref()
  })
}
