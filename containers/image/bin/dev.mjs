// Container entry point: starts the project's dev server on 0.0.0.0:5173 —
// the project's own npm script when studio recorded one at its import,
// Vite when the project's dependencies include it, the static server
// otherwise. Vite runs in this process (no npm, no second Node.js) because
// every millisecond here is a millisecond the user waits for the preview.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const app = '/app'
const viteBin = path.join(app, 'node_modules/vite/bin/vite.js')
const cacheDir = path.join(app, '.studio/node_modules/.vite')
const script = recordedScript()

if (script && dependenciesInstalled()) {
  runScript(script)
} else if (script) {
  // Studio installs the dependencies in this container, then starts it
  // again; meanwhile the files are served as they are.
  await import('./static-server.mjs')
} else if (fs.existsSync(viteBin)) {
  seedDependencyCache()
  process.argv = [
    process.argv[0], viteBin,
    '--host', '0.0.0.0', '--port', '5173', '--strictPort',
    // node_modules is read-only: the default loader writes a bundled config
    // into node_modules/.vite-temp.
    '--configLoader', 'runner',
  ]
  await import(viteBin)
} else {
  await import('./static-server.mjs')
}

// seedDependencyCache gives a project without a dependency cache the one the
// image pre-bundled for its template (the directory next to the node_modules
// that /app/node_modules links to). Vite compares lockfile and config hashes
// and re-bundles by itself when the project has drifted from the template.
function seedDependencyCache() {
  if (fs.existsSync(cacheDir)) return
  let seed
  try {
    seed = path.join(path.dirname(fs.realpathSync(path.join(app, 'node_modules'))), 'vite-cache')
  } catch {
    return
  }
  if (!fs.existsSync(seed)) return
  const partial = `${cacheDir}.${process.pid}`
  try {
    fs.cpSync(seed, partial, { recursive: true })
    fs.renameSync(partial, cacheDir)
  } catch (err) {
    fs.rmSync(partial, { recursive: true, force: true })
    console.warn(`studio: dependency cache not seeded: ${err.message}`)
  }
}

// recordedScript is the npm script studio chose for the project at its
// import (.studio/dev-server.json: {"script": "dev", "args": [...]}), or
// undefined when the project runs on Vite or the static server.
function recordedScript() {
  let d
  try {
    d = JSON.parse(fs.readFileSync(path.join(app, '.studio/dev-server.json'), 'utf8'))
  } catch {
    return undefined
  }
  if (typeof d?.script !== 'string' || d.script === '') return undefined
  const args = Array.isArray(d.args) ? d.args.filter((a) => typeof a === 'string') : []
  return { name: d.script, args }
}

// dependenciesInstalled mirrors studio's check before it runs npm install:
// nothing to install, dependencies linked from the image, or an install
// studio finished.
function dependenciesInstalled() {
  let pkg
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'))
  } catch {
    return true // nothing studio would install; npm says what is wrong
  }
  const count = Object.keys(pkg?.dependencies ?? {}).length + Object.keys(pkg?.devDependencies ?? {}).length
  const modules = path.join(app, 'node_modules')
  return count === 0 || fs.existsSync(path.join(modules, '.studio-installed')) ||
    (fs.lstatSync(modules, { throwIfNoEntry: false })?.isSymbolicLink() ?? false)
}

// runScript runs the project's npm script with the host and port the
// preview expects, and ends with it: a script that exits stops the
// container, and its last lines say why.
function runScript({ name, args }) {
  const argv = ['run', '--silent', name]
  if (args.length > 0) argv.push('--', ...args)
  console.log(`studio: npm ${argv.join(' ')}`)
  const child = spawn('npm', argv, {
    stdio: 'inherit',
    env: {
      ...process.env,
      HOST: '0.0.0.0',
      PORT: '5173',
      npm_config_cache: '/tmp/.npm',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
    },
  })
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal))
  child.on('error', (err) => {
    console.error(`studio: cannot run npm: ${err.message}`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0)))
}
