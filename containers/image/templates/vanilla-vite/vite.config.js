import { defineConfig } from 'vite'

// The dev server runs in a Studio container and is reached through the
// preview proxy on another host name and port, so HMR must follow the page's
// own address (no hmr.clientPort) and any Host header must be accepted.
// node_modules is read-only: the dependency cache lives in .studio/.
export default defineConfig({
  cacheDir: '.studio/node_modules/.vite',
  server: {
    host: '0.0.0.0',
    port: 5173,
    strictPort: true,
    allowedHosts: true,
  },
})
