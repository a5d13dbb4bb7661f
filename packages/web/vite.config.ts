import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The dashboard and browser terminal: one page, bundled (no CDN), served by the gateway from
// dist/. `npx vite packages/web` serves it for development against a gateway on :8080.
export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  base: '/',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } } },
})
