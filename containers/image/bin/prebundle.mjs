// Image build step. For each Vite template, pre-bundles its dependencies from
// /app with the project's own config and cache path — the lockfile and config
// hashes Vite stores must match what a project computes at run time — and
// keeps the result in /opt/studio/templates/<id>/vite-cache, which dev.mjs
// copies into new projects.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const templates = '/opt/studio/templates'
const app = '/app'

for (const id of fs.readdirSync(templates)) {
  const dir = path.join(templates, id)
  const modules = path.join(dir, 'node_modules')
  if (!fs.existsSync(path.join(modules, 'vite/bin/vite.js'))) continue

  fs.rmSync(app, { recursive: true, force: true })
  fs.cpSync(dir, app, { recursive: true, filter: (src) => src !== modules })
  fs.symlinkSync(modules, path.join(app, 'node_modules'))

  console.log(`pre-bundling dependencies of ${id}`)
  const run = spawnSync(
    process.execPath,
    [path.join(app, 'node_modules/vite/bin/vite.js'), 'optimize', '--configLoader', 'runner'],
    { cwd: app, stdio: 'inherit' },
  )
  if (run.status !== 0) throw new Error(`pre-bundling ${id} failed (exit ${run.status})`)
  fs.renameSync(path.join(app, '.studio/node_modules/.vite'), path.join(dir, 'vite-cache'))
}
fs.rmSync(app, { recursive: true, force: true })
