// Container entry point: starts the project's dev server on 0.0.0.0:5173 —
// Vite when the project's dependencies include it, the static server
// otherwise. Vite runs in this process (no npm, no second Node.js) because
// every millisecond here is a millisecond the user waits for the preview.
import fs from 'node:fs'
import path from 'node:path'

const app = '/app'
const viteBin = path.join(app, 'node_modules/vite/bin/vite.js')
const cacheDir = path.join(app, '.studio/node_modules/.vite')

if (fs.existsSync(viteBin)) {
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
