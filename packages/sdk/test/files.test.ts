import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGENT_BUNDLE_DIR, localDriverSkipReason, localTestEnv } from '../../lab/src/drivers/local/test-support.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { FileNotFoundError, InfraLab, PathConflictError, type Session } from '../src/index.ts'

const skip = localDriverSkipReason() ?? (existsSync(join(AGENT_BUNDLE_DIR, 'agent.mjs')) ? undefined : 'the agent bundle is not built (node scripts/build.mjs)')

/** `bytes` as a stream of pieces, each made as it is read. */
function streamOf(bytes: Uint8Array, piece = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close()
      c.enqueue(bytes.slice(at, at + piece))
      at += piece
    },
  })
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) parts.push(p)
  return Buffer.concat(parts)
}

// The SDK's file calls against a real gateway and real sandboxes (local driver).
describe.skipIf(skip !== undefined)(`session.files (local driver)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let s: Session

  beforeAll(async () => {
    env = await localTestEnv('sdk-files')
    gw = await startTestGateway(await env.makeDriver(), { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'a warm sandbox')
    s = await new InfraLab({ url: gw.url, apiKey: TEST_KEY }).sessions.create({ user: 'alice' })
  })
  afterAll(async () => {
    await gw?.cleanup()
    await env?.cleanup()
  })

  it('writes and reads back random bytes from a Uint8Array, a Blob and a stream, creating parents', async () => {
    const bytes = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17))
    expect(await s.files.write('deep/er/a.bin', bytes)).toMatchObject({ size: bytes.length })
    expect(Buffer.from(await s.files.read('deep/er/a.bin')).equals(bytes)).toBe(true)

    await s.files.write('b.bin', new Blob([bytes]))
    expect(Buffer.from(await s.files.read('b.bin')).equals(bytes)).toBe(true)

    const streamed = await s.files.write('c.bin', streamOf(bytes))
    expect(streamed.size).toBe(bytes.length)
    expect((await readAll(await s.files.readStream('c.bin'))).equals(bytes)).toBe(true)
    // the sandbox sees the same bytes
    expect((await s.exec('sha256sum < c.bin')).stdout.split(' ')[0]).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it('writes a string as UTF-8 and reads it as text', async () => {
    await s.files.write('/tmp/t.txt', 'h\u00e9llo\n')
    expect(await s.files.readText('/tmp/t.txt')).toBe('h\u00e9llo\n')
  })

  it('lists a directory, removes files and directories, and names the mistakes', async () => {
    await s.files.write('dir/one.txt', '1')
    await s.files.write('dir/sub/two.txt', '22')
    const entries = await s.files.list('dir')
    expect(entries.map((e) => [e.name, e.type]).sort()).toEqual([['one.txt', 'file'], ['sub', 'dir']])
    expect(entries.find((e) => e.name === 'one.txt')).toMatchObject({ size: 1, mode: expect.stringMatching(/^0[0-7]{3}$/) })

    await expect(s.files.read('dir')).rejects.toBeInstanceOf(PathConflictError)
    await expect(s.files.list('dir/one.txt')).rejects.toBeInstanceOf(PathConflictError)
    await expect(s.files.read('dir/missing')).rejects.toBeInstanceOf(FileNotFoundError)
    await expect(s.files.remove('dir')).rejects.toBeInstanceOf(PathConflictError)

    await s.files.remove('dir/one.txt')
    await s.files.remove('dir', { recursive: true })
    await expect(s.files.list('dir')).rejects.toBeInstanceOf(FileNotFoundError)
  })
})
