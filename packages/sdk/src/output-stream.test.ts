import { describe, expect, it } from 'vitest'
import { SessionEndedError } from './errors.generated.ts'
import { readOutputStream } from './output-stream.ts'

const sse = (text: string) => new Response(text, { headers: { 'content-type': 'text/event-stream' } })
const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

describe('readOutputStream', () => {
  it('keeps a stream without a handler up to the cap, then marks it truncated', async () => {
    const out = await readOutputStream(sse(ev('stdout', 'abc') + ': keep-alive\n\n' + ev('stdout', 'defg') + ev('stderr', 'e') + ev('exit', { exitCode: 0, signal: null })), {}, 5)
    expect(out).toEqual({ stdout: 'abcde', stderr: 'e', truncated: true, exit: { exitCode: 0, signal: null } })
  })

  it('hands a stream with a handler every chunk and keeps none of it', async () => {
    const got: string[] = []
    const out = await readOutputStream(sse(ev('stdout', 'abc') + ev('stdout', 'defg')), { onStdout: (c) => void got.push(c) }, 5)
    expect(got).toEqual(['abc', 'defg'])
    expect(out).toEqual({ stdout: '', stderr: '', truncated: false, exit: undefined })
  })

  it("throws the catalogue's error for an error event", async () => {
    const err = await readOutputStream(sse(ev('stdout', 'a') + ev('error', { code: 'session_ended', message: 'session ses-x ended (terminated)' })), {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SessionEndedError)
    expect(err).toMatchObject({ code: 'session_ended', message: 'session ses-x ended (terminated)' })
  })

  it('refuses a chunk that is not a JSON string', async () => {
    await expect(readOutputStream(sse('event: stdout\ndata: 42\n\n'), {})).rejects.toThrow(/stdout event whose data is not a JSON string/)
  })
})
