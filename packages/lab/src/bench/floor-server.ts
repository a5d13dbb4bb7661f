/**
 * The transport floor of `bench startup`: a server on the gateway's own stack (fastify +
 * @fastify/websocket, JSON in and out) that does no work. `POST /v1/sessions` answers at once
 * with a body of the gateway's shape; the terminal WebSocket sends one byte as soon as it opens.
 * The same client timing the same steps against it measures what any gateway on this machine
 * pays for HTTP, a WebSocket upgrade and a frame over loopback, so start-up figures can be
 * judged against the machine they ran on. It runs in its own process, like the gateway:
 * floor-main.ts, bundled as packages/lab/dist/floor-server.mjs.
 */
import { spawn } from 'node:child_process'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import { newSecretToken } from '../gateway/auth.ts'
import { newId } from '../gateway/ids.ts'
import type { Attach, SessionView } from '../gateway/session-view.ts'

/** The claim path's timing keys, so the floor's body is as long as a warm claim's. */
const TIMINGS = { storeClaimMs: 0, connectMs: 0, bindWorkspaceMs: 0, claimSendMs: 0, claimMs: 0 }
const ATTACH_TTL_MS = 15 * 60_000
const PROMPT_BYTE = Buffer.from('$')
const EXEC_RESULT = { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false, durationMs: 0 }

export async function buildFloorApp(): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(websocket)
  app.post('/v1/sessions', async (req, reply) => {
    const body = (req.body ?? {}) as { user?: string; pool?: string }
    const id = newId('ses')
    const now = Date.now()
    const attach: Attach = { url: `/v1/sessions/${id}/terminal`, token: newSecretToken(), expiresAt: new Date(now + ATTACH_TTL_MS).toISOString() }
    const view: SessionView & { attach: Attach } = {
      id, user: String(body.user ?? ''), pool: String(body.pool ?? 'default'), state: 'starting', warm: true,
      createdAt: new Date(now).toISOString(), timings: TIMINGS, labels: {}, attach,
      // A pool's default lifetime and idle timeout, as a gateway answers them.
      expiresAt: new Date(now + 86_400_000).toISOString(), idleExpiresAt: new Date(now + 1_800_000).toISOString(),
    }
    return reply.code(201).send(view)
  })
  // What the client reads after a start for the gateway's timings (outside the timed steps).
  app.get('/v1/sessions/:id', async (req) => {
    const { id } = req.params as { id: string }
    const view: SessionView = { id, user: '', pool: 'default', state: 'running', warm: true, createdAt: new Date().toISOString(), timings: TIMINGS, labels: {} }
    return view
  })
  app.get('/v1/sessions/:id/terminal', { websocket: true }, (socket) => {
    socket.send(PROMPT_BYTE)
  })
  // `bench exec`: an exec answered at once with a body of the gateway's shape (`true`'s output).
  app.post('/v1/sessions/:id/exec', async () => EXEC_RESULT)
  app.delete('/v1/sessions/:id', async (_req, reply) => reply.code(204).send())
  return app
}

export interface FloorProcess {
  readonly url: string
  readonly pid: number
  stop(): Promise<void>
}

/** Starts the floor server bundle (`floor-server.mjs`) as its own process and waits for its URL. */
export async function startFloorProcess(bundlePath: string, timeoutMs = 30_000): Promise<FloorProcess> {
  const child = spawn(process.execPath, [bundlePath], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the floor server did not start within ${timeoutMs} ms:\n${stderr}`))
    }, timeoutMs)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the floor server exited with ${code} before it listened:\n${stderr}`))
    })
  })
  return {
    url, pid: child.pid!,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      child.kill('SIGTERM')
    }),
  }
}
