import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { findRepoRoot } from '../paths.ts'

/** Where `vite build` puts the dashboard and browser terminal (packages/web). */
export function webDistDir(): string {
  return join(findRepoRoot(), 'packages', 'web', 'dist')
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Infra Lab</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>Web dashboard not built</h1><p>Run <code>npm run build</code> and restart the gateway. The API is at <code>/v1</code>.</p></body></html>`

/**
 * Serves the web dashboard and terminal at `/`. Only files that exist at start-up are routed
 * (no wildcard), so every other path still gets the API's JSON 404. Hashed assets are cached
 * for a year; index.html is always revalidated so a new build is picked up.
 */
export async function registerWeb(app: FastifyInstance, dir: string = webDistDir()): Promise<void> {
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(NOT_BUILT))
    return
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    setHeaders(res, path) {
      res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache')
      res.setHeader('x-content-type-options', 'nosniff')
      res.setHeader('referrer-policy', 'no-referrer')
    },
  })
}
